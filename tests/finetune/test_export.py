"""export-ollama on a trained tiny Llama: GGUF written, read back by transformers, same codes."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from gguf import GGUFReader

from classifier.prompt import instructions
from finetune.export import export_ollama
from household.cli import main
from household.errors import HouseholdError

pytestmark = pytest.mark.slow


def test_f16_export_round_trips_through_gguf_with_identical_predictions(trained, taxonomy) -> None:
    result = export_ollama(trained, taxonomy, "v0001", quant="f16", progress=False)
    assert result.ok and result.tokenizer_identical and result.questions > 0
    assert result.agreement == 1.0 and result.file_agreement == 1.0
    assert result.folder == trained.models_dir / "v0001" / "ollama"

    reader = GGUFReader(result.gguf)
    fields = {name: field.contents() for name, field in reader.fields.items()
              if name not in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")}
    assert fields["general.architecture"] == "llama" and fields["llama.block_count"] == 2
    assert fields["tokenizer.ggml.model"] == "gpt2" and "<|im_start|>" in fields["tokenizer.chat_template"]
    assert {t.tensor_type.name for t in reader.tensors if len(t.shape) == 2} == {"F16"}
    assert not any(t.name == "output.weight" for t in reader.tensors)  # tied embeddings

    modelfile = result.modelfile.read_text()
    assert modelfile.startswith("# ") and "FROM ./model.gguf" in modelfile
    assert re.search(r'TEMPLATE """<\|im_start\|>system\n\{\{ \.System \}\}<\|im_end\|>\n.*\{\{ \.Prompt \}\}', modelfile, re.DOTALL)
    config = json.loads((trained.models_dir / "v0001" / "config.json").read_text())
    assert f'SYSTEM """{instructions(taxonomy, "code", config["prompt_style"])}"""' in modelfile
    for line in ('PARAMETER stop "<|im_end|>"', "PARAMETER temperature 0", "PARAMETER num_predict 4"):
        assert line in modelfile
    assert json.loads((result.folder / "verification.json").read_text())["agreement"] == 1.0


def test_q8_export_through_the_cli(trained, tmp_path) -> None:
    out = tmp_path / "ollama"
    result = CliRunner().invoke(main, ["models", "export-ollama", "v0001", "--quant", "q8_0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"cd {out} && ollama create household-classifier -f Modelfile" in result.output
    assert "not run here" in result.output
    assert "Q8_0" in {t.tensor_type.name for t in GGUFReader(out / "model.gguf").tensors}
    assert json.loads((out / "verification.json").read_text())["file_agreement"] == 1.0


def test_unknown_version_is_a_clear_error(trained, taxonomy) -> None:
    with pytest.raises(HouseholdError, match="no model version 'v0042'"):
        export_ollama(trained, taxonomy, "v0042", progress=False)
