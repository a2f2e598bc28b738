"""`household models export-ollama`: a trained version as one GGUF file plus an Ollama Modelfile.

Ollama imports neither a Qwen3 safetensors model nor a LoRA adapter on it, only GGUF, so the
adapter is merged into the base weights and written with the `gguf` package's writer (F16 or
Q8_0), with the tokenizer and chat template as metadata. The file is then proven, not assumed:
transformers loads it back (`gguf_file=`) and must tokenize the prompt identically and predict
the same codes as the in-process merged model on the test split. Ollama itself does not run here.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from classifier.prompt import instructions
from classifier.registry import Registry
from finetune.data import assemble
from finetune.scenarios import load_version, version_settings
from household.errors import HouseholdError
from household.models import resolve
from household.settings import Settings
from household.taxonomy import Taxonomy

QUANTS = ("f16", "q8_0")
OLLAMA_NAME = "household-classifier"


@dataclass(frozen=True)
class Export:
    folder: Path
    gguf: Path
    modelfile: Path
    command: str
    quant: str
    questions: int
    tokenizer_identical: bool
    file_agreement: float  # vs the merged model with the file's own rounding: proves the format
    agreement: float  # vs the in-process float32 merged model: what quantization costs

    @property
    def ok(self) -> bool:
        exact = self.tokenizer_identical and self.file_agreement == 1.0
        return exact and (self.quant != "f16" or self.agreement == 1.0)


def export_ollama(
    settings: Settings, taxonomy: Taxonomy, version: str, out: Path | None = None, quant: str = "f16",
    progress: bool = True,
) -> Export:
    """Merge, write model.gguf + Modelfile into `out` (default <version>/ollama), verify; raise if it differs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from classifier.llm import LLMClassifier

    if quant not in QUANTS:
        raise HouseholdError(f"quantization must be one of {', '.join(QUANTS)}, not {quant!r}")
    chosen = Registry(settings.models_dir).get(version)
    llm = load_version(settings, taxonomy, chosen)
    llm.model = llm.model.merge_and_unload().eval()
    llm.reset_prefix_cache()
    folder = Path(out) if out else chosen.path / "ollama"
    folder.mkdir(parents=True, exist_ok=True)
    gguf_path = folder / "model.gguf"
    pre = pre_tokenizer(version_settings(settings, chosen).classifier_model, llm.model.config.model_type)
    stored = write_gguf(llm.model, llm.tokenizer, gguf_path, quant, pre, f"{OLLAMA_NAME}-{version}", progress)
    modelfile = write_modelfile(folder, llm, instructions(taxonomy, llm.label_mode, llm.prompt_style))

    reference = copy.deepcopy(llm.model)
    reference.load_state_dict(stored, strict=False)
    reference_llm = LLMClassifier(
        reference, llm.tokenizer, taxonomy, llm.label_mode, llm.max_chars, llm.batch_size, llm.prompt_style
    )
    loaded_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_path.name, dtype=torch.float32).eval()
    loaded_tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_path.name)
    if loaded_tokenizer.pad_token_id is None:
        loaded_tokenizer.pad_token = loaded_tokenizer.eos_token
    loaded = LLMClassifier(
        loaded_model, loaded_tokenizer, taxonomy, llm.label_mode, llm.max_chars, llm.batch_size, llm.prompt_style
    )

    questions = [ex.question for ex in assemble(settings, taxonomy).split.test]
    identical = (
        (loaded.prefix_ids, loaded.suffix_ids, loaded.label_ids, loaded.question_ids(questions))
        == (llm.prefix_ids, llm.suffix_ids, llm.label_ids, llm.question_ids(questions))
    )
    codes = _codes(loaded, questions, "verifying: GGUF model", progress)
    same_file = np.mean([a == b for a, b in zip(codes, _codes(reference_llm, questions, "  same precision", progress))])
    same_model = np.mean([a == b for a, b in zip(codes, _codes(llm, questions, "  in-process model", progress))])
    result = Export(
        folder, gguf_path, modelfile, f"cd {folder} && ollama create {OLLAMA_NAME} -f Modelfile", quant,
        len(questions), identical, float(same_file), float(same_model),
    )
    (folder / "verification.json").write_text(
        json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}, indent=2) + "\n"
    )
    if not result.ok:
        raise HouseholdError(
            f"the GGUF export of {version} does not reproduce the model: tokenizer identical {identical}, "
            f"agreement {same_model:.1%} (file precision {same_file:.1%}) on {len(questions)} test questions; "
            f"see {folder / 'verification.json'}"
        )
    return result


def _codes(classifier: Any, questions: list[str], desc: str, progress: bool) -> list[str]:
    codes: list[str] = []
    for start in tqdm(range(0, len(questions), 32), desc=desc, unit="batch", disable=not progress):
        codes.extend(p.code for p in classifier.classify_many(questions[start : start + 32]))
    return codes


def pre_tokenizer(base_spec: str, model_type: str) -> str:
    """llama.cpp's name for how text is split before BPE: the base GGUF's own, else by family."""
    path = resolve(base_spec)
    if path.endswith(".gguf"):
        from gguf import GGUFReader

        field = GGUFReader(path).fields.get("tokenizer.ggml.pre")
        if field is not None:
            return field.contents()
    return {"qwen2": "qwen2", "qwen3": "qwen2"}.get(model_type, "default")


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary layout for q/k rows (interleaved halves per head); transformers reverses it."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _encode(w: np.ndarray, quant: str) -> tuple[np.ndarray, Any]:
    """(bytes to write, GGML type): vectors stay F32; matrices F16, or Q8_0 where rows split into blocks."""
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quantize

    if w.ndim == 1:
        return w.astype(np.float32), Q.F32
    if quant == "q8_0" and w.shape[-1] % 32 == 0:
        return quantize(w.astype(np.float32), Q.Q8_0), Q.Q8_0
    return w.astype(np.float16), Q.F16


def write_gguf(
    model: Any, tokenizer: Any, path: Path, quant: str, pre: str, name: str, progress: bool = True
) -> dict[str, torch.Tensor]:
    """Write the model; return its weights as the file stores them (rounded), in transformers' layout."""
    from gguf import MODEL_ARCH, GGUFWriter, LlamaFileType, get_tensor_name_map
    from gguf.quants import dequantize

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
    stored: dict[str, torch.Tensor] = {}
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight" and config.tie_word_embeddings:
            continue
        stem, _, suffix = key.rpartition(".")
        gguf_name = names.get_name(stem)
        if gguf_name is None:
            raise HouseholdError(f"GGUF export: no GGUF name for tensor {key}")
        w = tensor.detach().float().cpu().numpy()
        data, qtype = _encode(w, quant)
        stored[key] = torch.from_numpy(dequantize(data, qtype).reshape(w.shape).copy())
        if config.model_type == "llama" and stem.endswith(("q_proj", "k_proj")):
            heads = config.num_attention_heads if stem.endswith("q_proj") else config.num_key_value_heads
            data, _ = _encode(_llama_permute(w, heads), quant)
        writer.add_tensor(f"{gguf_name}.{suffix}", data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=progress)
    writer.close()
    return stored


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


def write_modelfile(folder: Path, llm: Any, system: str) -> Path:
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
    path = folder / "Modelfile"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
