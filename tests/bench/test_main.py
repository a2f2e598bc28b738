"""`python -m bench --quick`: every section runs for real on tiny inputs and reports what it promises.

The harness runs exactly as `make bench` starts it (a subprocess from the repository root), with
the test's temp data dir, so it loads the real SmolLM2 and MiniLM, builds real Chroma stores,
starts `household ask` and `household ui` and trains LoRA for a step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {"classification", "throughput", "ingest", "retrieval", "memory", "finetune", "answers", "export", "ocr", "planted"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench-out")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


@pytest.mark.slow
def test_quick_run_reports_every_section_with_its_figures(quick_run: tuple[dict, str]) -> None:
    results, table = quick_run
    assert results["quick"] is True
    asked = results["sizes"]  # the quick sizes the harness used (bench/ is not importable from tests)
    machine = results["machine"]
    assert machine["cpu_count"] == os.cpu_count() and machine["torch_threads"] >= 1
    assert {"python", "torch", "load_before", "load_after"} <= machine.keys()
    sections = results["sections"]
    assert set(sections) == SECTIONS
    assert not [name for name, s in sections.items() if "error" in s]

    methods = sections["classification"]["methods"]
    assert set(methods) == {"a_cached_prefix", "b_no_prefix_cache", "c_seed_generate", "c_generate_cached_prefix",
                            "d_embedding"}
    assert all(0 < m["p50_ms"] <= m["p95_ms"] for m in methods.values())
    assert methods["a_cached_prefix"]["invalid"] == 0  # scoring can only ever answer a valid code
    assert sections["classification"]["speedup_a_over_c"] > 0

    for name in ("llm", "embedding"):
        assert sections["throughput"][name]["questions_per_s"] > 0
    ingest = sections["ingest"]
    assert ingest["chunks_written"] >= asked["chunks"] and 0 < ingest["end_to_end_over_raw"]
    sizes = sections["retrieval"]["sizes"]
    assert set(sizes) == {str(n) for n in asked["store_sizes"]}
    for size, figures in sizes.items():
        assert figures["chunks"] == int(size) and figures["disk_bytes_per_chunk"] > 0
        assert all(f"{way}_{kind}" in figures for way in ("retrieve", "store", "index", "exact")
                   for kind in ("filtered", "unfiltered"))
    memory = sections["memory"]
    assert memory["ask_mib"] > memory["floor_mib"] > 0  # equal only if a peak were the bench's own (see peak_of_run)
    finetune = sections["finetune"]
    assert finetune["all_blocks"]["examples_per_s"] > 0 and finetune["top_10"]["examples_per_s"] > 0
    assert finetune["recorded"] is None  # a fresh data dir holds no fine-tuned version

    for section in sections.values():
        assert f"## {section['title']}" in table
    assert "Target (a) has no invalid outputs: **met**" in table
