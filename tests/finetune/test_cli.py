"""`household eval` and `household models` through the command line, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_eval_of_a_questions_file_prints_the_summary_json(settings, tmp_path: Path) -> None:
    questions = tmp_path / "mine.jsonl"
    questions.write_text(
        '{"question": "the pool filter needs a backwash", "category": "pool"}\n'
        '{"question": "who trimmed the maple last fall", "category": "tree service"}\n'
        '{"question": "breaker keeps tripping in the garage", "category": "electric"}\n'
    )
    result = invoke("eval", "--model", "zero-shot", "--questions", str(questions), "--json", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    [scenario] = summary["scenarios"]
    assert scenario["name"] == "zero-shot" and scenario["n"] == 3
    assert scenario["correct"] == 3 - len(scenario["misses"])
    assert summary["command"].startswith("household eval") and "--json" in summary["command"]
    assert (tmp_path / "r" / "report.md").exists() and (tmp_path / "r" / "per-category.png").exists()


def test_eval_of_the_heldout_test_part_reports_calibration_two_topic_and_widening(settings, tmp_path: Path) -> None:
    from classifier.heldout import load_part
    from household.taxonomy import Taxonomy

    rows = load_part(settings, Taxonomy.load(settings.taxonomy_file), "test")
    result = invoke("eval", "--model", "zero-shot", "--heldout", "test", "--json", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    [scenario] = json.loads(result.output)["scenarios"]
    assert scenario["n"] == len(rows) and scenario["two_topic"]["n"] == sum(r.second_code is not None for r in rows)
    assert scenario["accuracy"] <= scenario["top2_accuracy"] and 0 < scenario["calibration"]["ece"] < 1
    assert scenario["widening"]["min_confidence"] == settings.min_confidence
    assert (tmp_path / "r" / "reliability.png").stat().st_size > 5000


def test_eval_reports_a_bad_questions_row_with_its_line(settings, tmp_path: Path) -> None:
    questions = tmp_path / "mine.jsonl"
    questions.write_text('{"question": "pool is green", "category": "pool"}\n{"question": "hmm", "category": "spa"}\n')
    result = invoke("eval", "--model", "embedding", "--questions", str(questions))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {questions}:2: unknown category 'spa'"


def test_eval_of_an_unknown_version_is_a_one_line_error(settings) -> None:
    result = invoke("eval", "--model", "v0009")
    assert result.exit_code == 1 and result.output.startswith("Error: no model version 'v0009'")
    assert len(result.output.strip().splitlines()) == 1


def test_models_list_without_versions_says_what_to_do(settings) -> None:
    result = invoke("models", "list")
    assert result.exit_code == 0 and "run `household finetune`" in result.output


@pytest.mark.slow
def test_models_list_and_use(trained) -> None:
    shutil.copytree(trained.models_dir / "v0001", trained.models_dir / "v0002")
    listed = invoke("models", "list", "--json")
    assert [(r["version"], r["active"]) for r in json.loads(listed.output)] == [("v0001", True), ("v0002", False)]
    used = invoke("models", "use", "v0002")
    assert used.exit_code == 0 and used.output.startswith("v0002 is now active")
    table = invoke("models", "list").output.splitlines()
    assert table[1].startswith("  v0001") and table[2].startswith("* v0002") and " code " in table[2]
    assert invoke("models", "use", "v0003").output.startswith("Error: no model version 'v0003'")


@pytest.mark.slow
def test_compare_runs_every_scenario_and_says_what_is_missing(trained, tmp_path: Path) -> None:
    result = invoke("eval", "--compare", "--latency-sample", "1", "--json", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    scenarios = {s["name"]: s for s in json.loads(result.output)["scenarios"]}
    assert list(scenarios) == [
        "base + names, generated (seed)", "base + codes, generated (seed)", "base + codes, scored", "LoRA names",
        "LoRA codes (v0001)", "embedding head", "ensemble (v0001)", "zero-shot router",
    ]
    assert scenarios["LoRA names"]["skipped"] == "not trained yet: run household finetune --label-mode name"
    n = scenarios["base + codes, scored"]["n"]
    assert all(s["n"] == n for s in scenarios.values() if "n" in s)
    # The random tiny model writes no label: every generated answer is invalid; scoring never is.
    assert scenarios["base + codes, generated (seed)"]["invalid"] == n
    assert scenarios["base + codes, scored"]["invalid"] == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Before and after" in text and "| base + names, generated (seed) | LoRA codes (v0001) |" in text


def test_eval_of_an_unknown_model_name_lists_the_choices(settings) -> None:
    result = invoke("eval", "--model", "embeding")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: unknown model 'embeding': choose a version (see `household models list`) or "
        "auto, llm, embedding, ensemble, base, zero-shot"
    )
