"""`python -m bench` (`make bench`): run the sections, write results.json and results.md."""

from __future__ import annotations

import contextlib
import cProfile
import importlib
import io
import os
import platform
import pstats
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import click

from bench.report import Section, markdown, write_json
from bench.workspace import FULL, QUICK, Workspace
from household.errors import HouseholdError
from household.settings import Settings

# Each section is a module with `run(Workspace) -> Section`, imported only when it runs (they import
# torch, which must not happen before OMP_WAIT_POLICY is settled; see main).
SECTIONS = ("classification", "throughput", "ingest", "ocr", "retrieval", "planted", "answers", "memory", "finetune", "export")
HERE = Path(__file__).resolve().parent


def machine() -> dict[str, Any]:
    import chromadb
    import sentence_transformers
    import torch
    import transformers

    return {
        "cpu_count": os.cpu_count(), "cpu": _cpu_name(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__, "chromadb": chromadb.__version__,
        "platform": platform.platform(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "load_before": _load(),
    }


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, platform.processor())


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _only(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()] if value else list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise click.BadParameter(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return names


def run_section(name: str, ws: Workspace, profile_to: Path | None) -> Section:
    """One section; a failure is recorded in its result and the run goes on to the next."""
    ws.say(f"== {name} ==")
    profiler = cProfile.Profile()
    start = time.perf_counter()
    with profiler if profile_to else contextlib.nullcontext():
        try:
            run: Callable[[Workspace], Section] = importlib.import_module(f"bench.{name}").run
            section = run(ws)
        except Exception as exc:  # a broken section must not cost the others their figures
            traceback.print_exc()
            section = Section(name, name, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            ws.say(f"{name} FAILED: {section.error}")
    section.seconds = time.perf_counter() - start
    if profile_to:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        profile_to.write_text(text.getvalue(), encoding="utf-8")
        ws.say(f"{name}: profile written to {profile_to}")
    ws.say(f"{name} done in {section.seconds:.0f} s")
    return section


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="Tiny inputs: a smoke test of every section; the figures mean little.")
@click.option("--only", callback=_only, metavar="NAME,...", help=f"Run only these sections: {', '.join(SECTIONS)}.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=HERE, show_default="bench/",
              help="Folder for results.json and results.md.")
@click.option("--size", "sizes", multiple=True, metavar="NAME=N",
              help="Change one size, e.g. --size chunks=10000 or --size store_sizes=1000,10000 (bench/workspace.py).")
@click.option("--profile", is_flag=True, help="Also write each section's cProfile summary to results.NAME.profile.txt.")
def main(quick: bool, only: list[str], out: Path, sizes: tuple[str, ...], profile: bool) -> None:
    """Measure speed, cost and scale, each figure against an alternative timed in the same run.

    \b
    Sections: 1 classification latency, 2 batch throughput, 3 ingest, OCR of rendered receipts, 4 retrieval by store size,
    7 the category filter at 1k-50k chunks (the sample household planted among distractors),
    answers (question to complete answer),
    5 peak memory of `household ask` / `household ui`, 6 LoRA training speed. The full run takes
    under 20 minutes on a quiet 2-core machine. Everything is written to a temporary data dir; the
    configured one only lends its model cache and its active adapter.

    \b
    Examples:
      python -m bench                          # everything, writes bench/results.json and .md
      python -m bench --quick                  # smoke test on tiny inputs
      python -m bench --only ingest,retrieval --profile
      python -m bench --only ingest --size chunks=2000    # a smaller ingest run
    """
    # On a shared machine OpenMP threads that spin while waiting for each other burn the CPU the
    # other thread needs: a classifier pass took 1.5-8 s instead of 0.5 s. Passive waiting keeps the
    # figures about the code, not the neighbours; set OMP_WAIT_POLICY=ACTIVE to measure the default.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        chosen = (QUICK if quick else FULL).override(list(sizes))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--size") from None
    try:
        source = Settings.load(profile="offline")
    except HouseholdError as exc:
        raise click.ClickException(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"date": datetime.now().isoformat(timespec="seconds"), "quick": quick}
    header["machine"] = machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="household-bench-") as tmp:
        ws = Workspace(source, Path(tmp), chosen)
        header["sizes"] = ws.sizes_dict()
        ws.say(f"benchmarks ({'quick' if quick else 'full'}): {', '.join(only)}; load average {_load()}")
        sections = [run_section(name, ws, out / f"results.{name}.profile.txt" if profile else None) for name in only]
    header["seconds"] = round(time.perf_counter() - started, 1)
    header["machine"]["load_after"] = _load()
    write_json(out / "results.json", header, sections)
    (out / "results.md").write_text(markdown(header, sections), encoding="utf-8")
    print(markdown(header, sections))
    print(f"Wrote {out / 'results.json'} and {out / 'results.md'} in {header['seconds'] / 60:.1f} min")
    failed = [s.name for s in sections if s.error]
    if failed:
        click.secho(f"Error: sections failed: {', '.join(failed)} (see results.md)", fg="red", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
