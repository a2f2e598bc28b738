"""export-ollama on a trained tiny Llama: GGUF written, read back and run by llama.cpp, same codes."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from gguf import GGUFReader
from gguf.quants import dequantize

from classifier import version as record
from classifier.prompt import instructions
from cli.main import main
from finetune.export import _llama_permute, export_ollama, write_gguf
from household.errors import HouseholdError

pytestmark = pytest.mark.slow
needs_llama_cpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed: the export is verified with llama.cpp (pip install llama-cpp-python)",
)


@needs_llama_cpp
def test_f16_export_round_trips_through_gguf_with_identical_predictions(trained, taxonomy, tmp_path) -> None:
    out = tmp_path / "ollama"
    result = CliRunner().invoke(main, ["models", "export-ollama", "v0001", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"cd {out} && ollama create household-classifier -f Modelfile" in result.output
    assert "tokenizer identical, 100.0% same codes" in result.output and "not run here" in result.output
    verification = json.loads((out / "verification.json").read_text())
    assert verification["tokenizer_identical"] and verification["questions"] > 0
    assert verification["agreement"] == 1.0 and verification["file_agreement"] == 1.0

    reader = GGUFReader(out / "model.gguf")
    fields = {name: field.contents() for name, field in reader.fields.items()
              if name not in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")}
    assert fields["general.architecture"] == "llama" and fields["llama.block_count"] == 2
    assert fields["tokenizer.ggml.model"] == "gpt2" and "<|im_start|>" in fields["tokenizer.chat_template"]
    assert {t.tensor_type.name for t in reader.tensors if len(t.shape) == 2} == {"F16"}
    assert not any(t.name == "output.weight" for t in reader.tensors)  # tied embeddings

    modelfile = (out / "Modelfile").read_text()
    assert modelfile.startswith("# ") and "FROM ./model.gguf" in modelfile
    template = r'TEMPLATE """<\|im_start\|>system\n\{\{ \.System \}\}<\|im_end\|>\n.*\{\{ \.Prompt \}\}'
    assert re.search(template, modelfile, re.DOTALL)
    style = record.read(trained.models_dir / "v0001").prompt_style
    assert f'SYSTEM """{instructions(taxonomy, "code", style)}"""' in modelfile
    for line in ('PARAMETER stop "<|im_end|>"', "PARAMETER temperature 0", "PARAMETER num_predict 4"):
        assert line in modelfile


def test_q8_tensors_hold_the_weights_in_llama_cpp_layout(tiny_lm, tmp_path) -> None:
    model, tokenizer = tiny_lm
    path = tmp_path / "model.gguf"
    rounded = copy.deepcopy(model)
    write_gguf(rounded, tokenizer, path, "q8_0", "default", "tiny", progress=False)
    stored = rounded.state_dict()
    tensors = {t.name: t for t in GGUFReader(path).tensors}
    assert tensors["blk.0.ffn_up.weight"].tensor_type.name == "Q8_0"
    assert tensors["blk.0.attn_norm.weight"].tensor_type.name == "F32"
    for gguf_name, key, heads in [
        ("blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", model.config.num_attention_heads),
        ("blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", model.config.num_key_value_heads),
        ("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight", None),
    ]:
        t = tensors[gguf_name]
        read = dequantize(t.data, t.tensor_type).reshape(stored[key].shape)
        expected = stored[key].numpy()
        assert np.array_equal(read, _llama_permute(expected, heads) if heads else expected), gguf_name
        assert np.abs(expected - model.state_dict()[key].numpy()).max() < 0.01  # Q8_0 rounding only


def test_unknown_version_is_a_clear_error(trained, taxonomy) -> None:
    with pytest.raises(HouseholdError, match="no model version 'v0042'"):
        export_ollama(trained, taxonomy, "v0042", progress=False)


@needs_llama_cpp
def test_a_re_export_killed_midway_leaves_the_verified_export_in_place(trained, tmp_path):
    out = tmp_path / "ollama"
    assert CliRunner().invoke(main, ["models", "export-ollama", "v0001", "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    stamp = (out / "model.gguf").stat()
    household = Path(sys.executable).with_name("household")
    command = [household, "models", "export-ollama", "v0001", "--out", out, "--quant", "q8_0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while process.poll() is None:
            now = (out / "model.gguf").stat() if (out / "model.gguf").exists() else None
            if {p.name for p in out.iterdir()} != set(before) or now is None or now.st_mtime_ns != stamp.st_mtime_ns:
                break
            time.sleep(0.005)
        assert process.poll() is None, f"the export ended before it wrote anything: {process.stderr.read()[-2000:]}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert {name: (out / name).read_bytes() for name in before} == before, "the verified export was overwritten"
    verification = json.loads((out / "verification.json").read_text())
    assert verification["gguf_sha256"] == hashlib.sha256((out / "model.gguf").read_bytes()).hexdigest()
