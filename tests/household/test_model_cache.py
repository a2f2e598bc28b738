"""The GGUF conversion cache keeps one conversion per source file: a new mtime reuses it, new content replaces it."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch

from finetune.export import write_gguf
from household.models import load_causal_lm


def conversions(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "models").iterdir() if p.is_dir())


def test_one_conversion_per_source_file(tiny_lm, tmp_path):
    model, tokenizer = tiny_lm
    source, cache = tmp_path / "wheel" / "tiny.gguf", tmp_path / "cache"
    source.parent.mkdir()
    write_gguf(copy.deepcopy(model), tokenizer, source, "f16", "gpt-2", "tiny", progress=False)
    first, _ = load_causal_lm(str(source), cache)
    assert len(conversions(cache)) == 1

    later = source.stat().st_mtime_ns + 10**9
    os.utime(source, ns=(later, later))  # a reinstall: same bytes, new mtime
    again, _ = load_causal_lm(str(source), cache)
    assert len(conversions(cache)) == 1, "a new mtime alone must not add a conversion"
    assert torch.equal(again.model.embed_tokens.weight, first.model.embed_tokens.weight)

    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.model.embed_tokens.weight.mul_(2)
    write_gguf(changed, tokenizer, source, "f16", "gpt-2", "tiny", progress=False)
    updated, _ = load_causal_lm(str(source), cache)
    assert len(conversions(cache)) == 1, "new content replaces the old conversion"
    assert torch.allclose(updated.model.embed_tokens.weight, 2 * first.model.embed_tokens.weight, atol=1e-3)
