"""The report folder: JSON with the expected fields, Markdown with the write-up's sections, real PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.dataset import load_examples, split
from classifier.embedding import EmbeddingClassifier, ZeroShotRouter
from finetune.evaluation import Skipped, evaluate
from finetune.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HISTORY = [
    {"step": 1, "epoch": 1, "loss": 2.9}, {"step": 2, "epoch": 1, "loss": 2.1}, {"epoch": 1, "val_accuracy": 0.4},
    {"step": 3, "epoch": 2, "loss": 1.2}, {"step": 4, "epoch": 2, "loss": 0.8}, {"epoch": 2, "val_accuracy": 0.7},
]
VERSION = {
    "version": "v0007",
    "config": {"label_mode": "code", "rank": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj"]},
    "train": {"history": HISTORY, "best_epoch": 2, "best_val_accuracy": 0.7, "trainable_params": 4_884_480,
              "total_params": 139_399_488, "seconds": 600.0, "examples_per_second": 3.1},
    "data": {"train": 700, "val": 150, "test": 148, "corrections": 2, "relabelled": 1},
    "selection": {"winner": "ensemble", "val_accuracy": {"llm": 0.9, "embedding": 0.95, "ensemble": 0.97},
                  "ensemble_weight": 2.0},
}


@pytest.fixture(scope="module")
def results(embedder, taxonomy, small_questions):
    parts = split(load_examples(small_questions, taxonomy))
    router = evaluate(ZeroShotRouter(embedder, taxonomy), parts.test, "zero-shot router", 2, progress=False)
    head = evaluate(EmbeddingClassifier.train(embedder, taxonomy, parts.train), parts.test, "embedding head", 2,
                    progress=False)
    return [router, head, Skipped("LoRA names", "not trained yet: run household finetune --label-mode name")]


def test_every_file_is_written_with_the_expected_fields(results, tmp_path: Path) -> None:
    files = write_report(tmp_path / "r", results, "Test report", VERSION, before="zero-shot router",
                         after="embedding head", command="household eval --compare")
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["confusion-embedding-head.png", "confusion-zero-shot-router.png", "loss.png",
                     "per-category.png", "reliability.png", "report.json", "report.md"]
    for png in (tmp_path / "r").glob("*.png"):
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, png.name

    summary = json.loads(files["json"].read_text())
    assert set(summary) == {"title", "created", "command", "version", "scenarios"}
    router, head, skipped = summary["scenarios"]
    assert (router["name"], head["name"]) == ("zero-shot router", "embedding head")
    assert head["accuracy"] == round(results[1].accuracy, 4) and head["n"] == len(results[1].records)
    for key in ("per_category", "confusion", "invalid", "latency_ms", "misses", "top2_accuracy", "calibration"):
        assert key in head and key in router
    assert head["top2_accuracy"] >= head["accuracy"]
    assert head["calibration"]["ece"] == round(results[1].ece(), 4)
    assert sum(b["n"] for b in head["calibration"]["reliability"]) == head["n"]
    assert skipped == {"name": "LoRA names", "skipped": "not trained yet: run household finetune --label-mode name"}
    assert "history" not in summary["version"]["train"] and summary["version"]["train"]["trainable_params"] == 4_884_480


def test_the_markdown_reads_like_the_write_up(results, tmp_path: Path) -> None:
    router, head, _ = results
    text = write_report(tmp_path, results, "Test report", VERSION, before="zero-shot router",
                        after="embedding head")["markdown"].read_text()
    assert text.startswith("# Test report\n")
    assert f"**embedding head** answers {100 * head.accuracy:.1f}% correctly" in text
    assert f"against {100 * router.accuracy:.1f}% for **zero-shot router**" in text
    assert "| LoRA names | - | - | - | - | - | - | - | - | - | not trained yet: run household finetune --label-mode name |" in text
    assert "## Calibration" in text and "![reliability diagram](reliability.png)" in text
    cal = head.calibration()
    assert (f"| embedding head | {100 * head.accuracy:.1f}% | {head.accuracy * len(head.records):.0f}/{len(head.records)} "
            f"| {100 * head.top2_accuracy:.1f}% | {cal['ece_raw']:.3f} | {cal['ece']:.3f} "
            f"| {cal['confident_misses']}/{len(head.misses)} |") in text
    assert "Chosen on the validation split: **ensemble** (97.0%, 2.0 points ahead of embedding)." in text
    assert "4,884,480 trainable / 139,399,488 total parameters (3.50% of the weights trained" in text
    assert "| target_modules | q_proj, v_proj |" in text
    assert "![training loss](loss.png)" in text and "4 logged steps, first loss 2.900, final loss 0.800" in text
    assert "## Before and after" in text and "## Per category" in text
    assert f"## Misses of embedding head ({len(head.misses)})" in text
    for miss in head.misses[:5]:
        assert f"| {miss.question} |" in text


def test_without_a_version_there_is_no_training_section(results, tmp_path: Path) -> None:
    files = write_report(tmp_path, results[:1], "Router only")
    text = files["markdown"].read_text()
    assert "loss" not in files and "## LoRA configuration" not in text and "## Before and after" not in text
    assert json.loads(files["json"].read_text())["version"] is None
