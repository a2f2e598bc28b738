"""`household models export-ollama`: a trained version as one GGUF file plus an Ollama Modelfile.

Ollama imports neither a Qwen3 safetensors model nor a LoRA adapter on it, only GGUF, so the
adapter is merged into the base weights and written with the `gguf` package's writer (F16 or
Q8_0), with the tokenizer and chat template as metadata. The file is then proven, not assumed, by
the engine Ollama runs: llama.cpp (llama-cpp-python) loads it and must tokenize the prompt
identically and score the same codes on the test split as the in-process merged model.

Memory: one copy of the model. Tensors are encoded and written one at a time, and each is then
rounded in place to the file's precision, which gives the reference at file precision without a
second model (bench: `python -m bench --only export`). The file is written under a temporary
name and renamed over `model.gguf` only once verified, so an interrupted or failed export leaves
the previous one, and the `verification.json` that names its checksum, untouched.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from classifier.prediction import Prediction, clean_question
from classifier.prompt import instructions
from classifier.registry import Registry, load_version
from finetune.data import assemble
from household.errors import HouseholdError, ModelNotFoundError
from household.models import resolve, sha256_file
from household.settings import Settings
from household.taxonomy import Taxonomy

QUANTS = ("f16", "q8_0")
OLLAMA_NAME = "household-classifier"
ROUND_ROWS_BYTES = 16 << 20  # quantized rows de-quantized at a time when rounding the model to the file
LLAMA_CPP_HINT = "pip install llama-cpp-python  # builds llama.cpp from source, about ten minutes"


@dataclass(frozen=True)
class Export:
    folder: Path
    gguf: Path
    modelfile: Path
    command: str
    quant: str
    questions: int
    tokenizer_identical: bool
    file_agreement: float  # llama.cpp vs the merged model rounded to the file's precision: proves the format
    agreement: float  # llama.cpp vs the in-process float32 merged model: what quantization costs
    engine: str = ""  # what read the file back: llama.cpp's version
    gguf_sha256: str = ""  # the file this verification is about

    @property
    def ok(self) -> bool:
        exact = self.tokenizer_identical and self.file_agreement == 1.0
        return exact and (self.quant != "f16" or self.agreement == 1.0)


def export_ollama(
    settings: Settings, taxonomy: Taxonomy, version: str, out: Path | None = None, quant: str = "f16",
    progress: bool = True,
) -> Export:
    """Merge, write model.gguf + Modelfile into `out` (default <version>/ollama), verify; raise if it differs."""
    if quant not in QUANTS:
        raise HouseholdError(f"quantization must be one of {', '.join(QUANTS)}, not {quant!r}")
    chosen = Registry(settings.models_dir).get(version)
    llama_cpp = _llama_cpp()
    llm = load_version(settings, taxonomy, chosen, "llm")
    llm.model = llm.model.merge_and_unload().eval()
    llm.reset_prefix_cache()
    folder = Path(out) if out else chosen.path / "ollama"
    folder.mkdir(parents=True, exist_ok=True)
    gguf_path = folder / "model.gguf"
    for stale in folder.glob(".*.partial-*"):  # left by an export that was killed
        if not _alive(stale.name.rpartition("-")[2]):
            stale.unlink(missing_ok=True)
    questions = [ex.question for ex in assemble(settings, taxonomy).split.test]
    in_process = _codes(llm, questions, "in-process model", progress)

    partial = folder / f".model.gguf.partial-{os.getpid()}"
    try:
        pre = pre_tokenizer(chosen.info.base_model, llm.model.config.model_type, llm.tokenizer)
        write_gguf(llm.model, llm.tokenizer, partial, quant, pre, f"{OLLAMA_NAME}-{version}", progress)
        llm.reset_prefix_cache()  # the weights are now the file's, rounded
        same_precision = _codes(llm, questions, "  same precision", progress)
        identical, from_file = _read_back(llama_cpp, partial, llm, questions, progress)
        result = Export(
            folder, gguf_path, folder / "Modelfile", f"cd {folder} && ollama create {OLLAMA_NAME} -f Modelfile",
            quant, len(questions), identical, _agreement(from_file, same_precision), _agreement(from_file, in_process),
            f"llama.cpp (llama-cpp-python {llama_cpp.__version__})", sha256_file(partial),
        )
        if not result.ok:
            _write_text(folder / "verification.failed.json", _as_json(result))
            raise HouseholdError(
                f"the GGUF export of {version} does not reproduce the model: tokenizer identical {identical}, "
                f"agreement {result.agreement:.1%} (file precision {result.file_agreement:.1%}) on "
                f"{len(questions)} test questions in llama.cpp; the previous export is kept; see "
                f"{folder / 'verification.failed.json'}"
            )
        _write_text(result.modelfile, modelfile_text(llm, instructions(taxonomy, llm.label_mode, llm.prompt_style)))
        os.replace(partial, gguf_path)
        _write_text(folder / "verification.json", _as_json(result))
    finally:
        partial.unlink(missing_ok=True)
    (folder / "verification.failed.json").unlink(missing_ok=True)
    return result


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise ModelNotFoundError(
            f"the export is verified with llama.cpp, which is not installed: run `{LLAMA_CPP_HINT}`"
        ) from None
    return llama_cpp


def _codes(classifier: Any, questions: list[str], desc: str, progress: bool) -> list[str]:
    codes: list[str] = []
    for start in tqdm(range(0, len(questions), 32), desc=desc, unit="batch", disable=not progress):
        codes.extend(p.code for p in classifier.classify_many(questions[start : start + 32]))
    return codes


def _agreement(a: list[str], b: list[str]) -> float:
    return float(np.mean([x == y for x, y in zip(a, b)])) if a else 1.0


def _read_back(llama_cpp: Any, path: Path, llm: Any, questions: list[str], progress: bool) -> tuple[bool, list[str]]:
    """(tokenizer identical, codes) as llama.cpp reads and runs the file: the classifier's scoring, token by token.

    Each label's score is the summed log-probability of its tokens after prefix + question, as in
    `LLMClassifier.score`; the prefix is evaluated once and the KV cache rewound to it per question.
    """
    rows = llm.question_ids(questions)
    try:
        engine = llama_cpp.Llama(
            model_path=str(path), n_ctx=len(llm.prefix_ids) + max(map(len, rows)) + max(map(len, llm.label_ids)) + 8,
            logits_all=True, verbose=False, n_threads=torch.get_num_threads(),
        )
    except ValueError as exc:  # llama.cpp rejects the file (unknown architecture or pre-tokenizer, bad layout)
        raise HouseholdError(f"llama.cpp cannot load the exported GGUF: {exc}; the previous export is kept") from exc

    def tokens(text: str) -> list[int]:
        return engine.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    prompt = llm.prompt
    identical = (
        tokens(prompt.prefix) == llm.prefix_ids and tokens(prompt.suffix) == llm.suffix_ids
        and [tokens(label + prompt.end) for label in prompt.labels] == llm.label_ids
        and all(tokens(clean_question(q, llm.max_chars)) + llm.suffix_ids == row for q, row in zip(questions, rows))
    )
    engine.reset()
    engine.eval(llm.prefix_ids)
    codes = []
    for row in tqdm(rows, desc="verifying: llama.cpp", unit="question", disable=not progress):
        engine.n_tokens = len(llm.prefix_ids)
        engine.eval(row)
        end = engine.n_tokens
        first = _log_softmax(engine.scores[end - 1])
        scores = []
        for label in llm.label_ids:
            total = float(first[label[0]])
            if len(label) > 1:
                engine.n_tokens = end
                engine.eval(label[:-1])
                total += sum(float(_log_softmax(engine.scores[end - 1 + t])[label[t]]) for t in range(1, len(label)))
            scores.append(total)
        codes.append(Prediction.from_scores(scores, llm.taxonomy).code)
    engine.close()
    return identical, codes


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def _as_json(result: Export) -> str:
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}, indent=2) + "\n"


def _write_text(path: Path, text: str) -> None:
    """Write whole or not at all: a temporary name, then a rename."""
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def pre_tokenizer(base_spec: str, model_type: str, tokenizer: Any) -> str:
    """llama.cpp's name for how text is split before BPE: the base GGUF's own, else from the tokenizer.

    A bare byte-level pre-tokenizer splits with GPT-2's pattern (SmolLM2 and models saved from
    its tokenizer); Qwen's split pattern is llama.cpp's "qwen2". llama.cpp's check of the file
    (`_read_back`) catches a wrong guess: the tokens would differ.
    """
    path = resolve(base_spec)
    if path.endswith(".gguf"):
        from gguf import GGUFReader

        field = GGUFReader(path).fields.get("tokenizer.ggml.pre")
        if field is not None:
            return field.contents()
    split = json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer") or {}
    if split.get("type") == "ByteLevel" and split.get("use_regex"):
        return "gpt-2"
    return {"qwen2": "qwen2", "qwen3": "qwen2"}.get(model_type, "default")


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary layout for q/k rows (interleaved halves per head); transformers reverses it."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _qtype(shape: tuple[int, ...], quant: str) -> Any:
    """The GGML type a tensor is stored as: vectors F32; matrices F16, or Q8_0 where rows split into blocks."""
    from gguf import GGMLQuantizationType as Q

    if len(shape) == 1:
        return Q.F32
    return Q.Q8_0 if quant == "q8_0" and shape[-1] % 32 == 0 else Q.F16


def _encode(w: np.ndarray, quant: str) -> tuple[np.ndarray, Any]:
    """(bytes to write, GGML type) of one tensor."""
    from gguf.quants import quantize

    qtype = _qtype(w.shape, quant)
    if qtype.name == "Q8_0":
        return quantize(w.astype(np.float32), qtype), qtype
    return w.astype(np.float32 if qtype.name == "F32" else np.float16), qtype


def write_gguf(model: Any, tokenizer: Any, path: Path, quant: str, pre: str, name: str, progress: bool = True) -> None:
    """Write the model tensor by tensor, rounding each of its weights in place to the file's precision.

    Afterwards `model` computes what the file holds; only one tensor's encoding exists at a time.
    """
    from gguf import MODEL_ARCH, GGUFWriter, LlamaFileType, get_tensor_name_map
    from gguf.quants import quant_shape_to_byte_shape

    config = model.config
    arches = {"llama": MODEL_ARCH.LLAMA, "qwen3": MODEL_ARCH.QWEN3}
    if config.model_type not in arches:
        raise HouseholdError(f"GGUF export supports {', '.join(arches)} models, not {config.model_type!r}")
    rope = getattr(config, "rope_parameters", None) or {"rope_type": "default", "rope_theta": config.rope_theta}
    if rope.get("rope_type", "default") != "default":
        raise HouseholdError(f"GGUF export does not support rope scaling {rope.get('rope_type')!r}")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer = GGUFWriter(path, config.model_type)
    writer.add_name(name)
    writer.add_type("model")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(rope["rope_theta"])
    if config.model_type == "llama":
        writer.add_rope_dimension_count(head_dim)
    else:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(LlamaFileType.MOSTLY_F16 if quant == "f16" else LlamaFileType.MOSTLY_Q8_0)
    _add_tokenizer(writer, tokenizer, config.vocab_size, pre)

    names = get_tensor_name_map(arches[config.model_type], config.num_hidden_layers)
    tensors = []
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight" and config.tie_word_embeddings:
            continue
        stem, _, suffix = key.rpartition(".")
        gguf_name = names.get_name(stem)
        if gguf_name is None:
            raise HouseholdError(f"GGUF export: no GGUF name for tensor {key}")
        qtype = _qtype(tuple(tensor.shape), quant)
        shape = quant_shape_to_byte_shape(tuple(tensor.shape), qtype) if qtype.name == "Q8_0" else tuple(tensor.shape)
        dtype = np.uint8 if qtype.name == "Q8_0" else (np.float32 if qtype.name == "F32" else np.float16)
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        writer.add_tensor_info(f"{gguf_name}.{suffix}", shape, np.dtype(dtype), nbytes, raw_dtype=qtype)
        tensors.append((stem, tensor))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    with torch.no_grad():
        for stem, tensor in tqdm(tensors, desc="writing GGUF", unit="tensor", disable=not progress):
            w = tensor.detach().float().cpu().numpy()  # a view for a float32 CPU model: no copy
            data, qtype = _encode(w, quant)
            written = data
            if config.model_type == "llama" and stem.endswith(("q_proj", "k_proj")):
                heads = config.num_attention_heads if stem.endswith("q_proj") else config.num_key_value_heads
                written, _ = _encode(_llama_permute(w, heads), quant)
            writer.write_tensor_data(written)
            _round_in_place(tensor, data, qtype)  # w is a view of tensor: last
    writer.close()


def _round_in_place(tensor: torch.Tensor, data: np.ndarray, qtype: Any) -> None:
    """Give `tensor` the values `data` stores, a few rows at a time (no full float32 temporary)."""
    from gguf.quants import dequantize

    if qtype.name == "F32":
        return
    if qtype.name == "F16":
        tensor.copy_(torch.from_numpy(data))
        return
    rows = max(1, ROUND_ROWS_BYTES // max(1, data.shape[-1]))
    for start in range(0, tensor.shape[0], rows):
        part = dequantize(data[start : start + rows], qtype).reshape(tensor[start : start + rows].shape)
        tensor[start : start + rows].copy_(torch.from_numpy(part))


def _add_tokenizer(writer: Any, tokenizer: Any, vocab_size: int, pre: str) -> None:
    """Byte-level BPE vocabulary, merges, token types, special ids and the chat template."""
    from gguf import TokenType

    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "BPE":
        raise HouseholdError(f"GGUF export supports byte-level BPE tokenizers, not {model.get('type')!r}")
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    added = tokenizer.added_tokens_decoder
    types = [
        (TokenType.CONTROL if added[i].special else TokenType.USER_DEFINED) if i in added else TokenType.NORMAL
        for i in range(len(tokens))
    ]
    for i in range(len(tokens), vocab_size):  # embedding rows the tokenizer never produces
        tokens.append(f"[PAD{i}]")
        types.append(TokenType.UNUSED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in model["merges"]])
    for token_id, add in (
        (tokenizer.bos_token_id, writer.add_bos_token_id),
        (tokenizer.eos_token_id, writer.add_eos_token_id),
        (tokenizer.unk_token_id, writer.add_unk_token_id),
        (tokenizer.pad_token_id, writer.add_pad_token_id),
    ):
        if token_id is not None:
            add(token_id)
    plain = tokenizer("a", add_special_tokens=False).input_ids
    with_special = tokenizer("a").input_ids
    writer.add_add_bos_token(len(with_special) > len(plain) and with_special[0] == tokenizer.bos_token_id)
    writer.add_add_space_prefix(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def modelfile_text(llm: Any, system: str) -> str:
    """The prompt the adapter was trained on, as an Ollama TEMPLATE + SYSTEM, with greedy short answers."""
    prompt = llm.prompt
    lines = ["# The household question classifier: answers with one category code.", "FROM ./model.gguf"]
    head = prompt.prefix.replace(system, "{{ .System }}")
    lines.append(f'TEMPLATE """{head}{{{{ .Prompt }}}}{prompt.suffix}"""')
    if head != prompt.prefix:
        lines.append(f'SYSTEM """{system}"""')
    text = prompt.prefix + prompt.suffix
    specials = [t for t in llm.tokenizer.all_special_tokens if t in text]
    stops = [t for t in dict.fromkeys([llm.tokenizer.eos_token, *specials]) if t]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines += ["PARAMETER temperature 0", "PARAMETER num_predict 4", ""]
    return "\n".join(lines)
