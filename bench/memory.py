"""Section 5: peak memory (RSS) of `household ask` and of `household ui` answering one question.

Both run as real subprocesses on a store holding the sample corpus (in a smoke test, the file of
the question), offline profile: `ask` to completion; the UI server started with `household ui` and
asked one question through the page in Debian's chromium (Playwright). A peak is the kernel's
high-water mark of resident memory (VmHWM), read while the process lives, summed over the UI
server's process tree. The alternative is the floor any in-process design pays: an interpreter
that has only imported the libraries.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.report import Section
from bench.timing import ratio, times
from bench.workspace import Workspace
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from storage.store import Store

IMPORTS = "import torch, transformers, sentence_transformers, chromadb"  # what `ask` needs besides the models
START_TIMEOUT_S = 180
ANSWER_TIMEOUT_S = 600
POLL_S = 0.05


def peak_of_run(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, int, float]:
    """(peak RSS in MiB, exit status, seconds) of a command run to completion.

    Its VmHWM is polled while it runs: wait4's ru_maxrss would not do, since a child forked from
    this large process keeps this process's high-water mark through exec.
    """
    start = time.perf_counter()
    peak = 0.0
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            with contextlib.suppress(OSError):  # it may exit between the poll and the read
                peak = max(peak, peak_mib(process.pid))
            time.sleep(POLL_S)
    return peak, process.returncode, time.perf_counter() - start


def tree(pid: int) -> list[int]:
    """`pid` and every process descended from it (read from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def peak_mib(pid: int) -> float:
    """The process's own high-water mark of resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"`household ui` exited with {server.returncode}: {log.read_text()[-500:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"`household ui` did not answer within {START_TIMEOUT_S} s")


def ask_in_browser(url: str, question: str, chromium: str) -> float:
    """Type the question into the chat and wait until the answer and its sources are shown; returns seconds."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(url, timeout=60_000)
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill(question)
            start = time.perf_counter()
            box.press("Enter")
            expect(page.get_by_text("Sources (").first).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
            return time.perf_counter() - start
        finally:
            browser.close()


def ui_peak(ws: Workspace, env: dict[str, str], question: str, chromium: str) -> tuple[float, int, float]:
    """(peak RSS of the server's process tree in MiB, processes, seconds to answer)."""
    port = free_port()
    log = ws.root / "ui.log"
    with log.open("wb") as out:
        server = subprocess.Popen([*ws.household(), "ui", "--port", str(port)], env=env, cwd=ws.root,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, log)
        seconds = ask_in_browser(url, question, chromium)
        pids = tree(server.pid)
        return sum(peak_mib(pid) for pid in pids), len(pids), seconds
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def product_classifier(ws: Workspace) -> str:
    """Which classifier `ask` and the UI load with the `auto` setting (see classifier.registry.load_version)."""
    from classifier.registry import Registry

    if ws.settings.classifier != "auto":
        return f"{ws.settings.classifier} (the classifier setting)"
    active = Registry(ws.settings.models_dir).active()
    if active is None:
        return "embedding head (no fine-tuned version yet)"
    return f"{active.info.selection.winner} ({active.version} is active)"


def question(ws: Workspace) -> tuple[str, list[Path]]:
    """The question both processes answer (the corpus's first QA row), and what to ingest for it."""
    corpus = ws.settings.corpus_dir
    qa = corpus / "qa.jsonl"
    if qa.exists():
        row = json.loads(qa.read_text(encoding="utf-8").splitlines()[0])
        return row["question"], ws.corpus_paths(corpus, [row["doc"]])
    return ws.split.test[0].question, [corpus]


def run(ws: Workspace) -> Section:
    section = Section("memory", "5. Peak memory (RSS), offline profile")
    asked, paths = question(ws)
    ws.say(f"memory: ingesting {len(paths)} path(s) under {ws.settings.corpus_dir} into the run's store")
    store = Store(ws.settings, ws.embedder)
    Pipeline(ws.settings, store, CategoryAssigner(ws.settings, ws.taxonomy, classifier=ws.embedding)).run(
        paths, progress=True
    )
    extra: dict[str, Any] = {"max_new_tokens": ws.sizes.answer_tokens} if ws.sizes.answer_tokens else {}
    env = ws.env(**extra)
    ws.say("memory: an interpreter with the libraries imported (the floor)")
    floor, _, _ = peak_of_run([sys.executable, "-c", IMPORTS], env, ws.root, ws.root / "floor.log")
    ws.say(f"memory: household ask {asked!r}")
    ask, status, ask_seconds = peak_of_run([*ws.household(), "ask", asked], env, ws.root, ws.root / "ask.log")
    if status != 0:
        raise RuntimeError(f"`household ask` exited with {status}: {(ws.root / 'ask.log').read_text()[-500:]}")
    figures: dict[str, Any] = {
        "question": asked, "floor_mib": round(floor), "ask_mib": round(ask), "ask_seconds": round(ask_seconds, 1),
        "ask_over_floor": ratio(ask, floor),
        "generator_max_new_tokens": ws.sizes.answer_tokens or ws.settings.max_new_tokens,
    }
    section.row("libraries imported, no model (the floor)", f"{floor:.0f} MiB")
    section.row("`household ask` (one question, answer generated)", f"{ask:.0f} MiB",
                f"{times(figures['ask_over_floor'])} the floor; {ask_seconds:.0f} s")
    chromium = shutil.which("chromium")
    if chromium is None:
        section.notes.append("`household ui` not measured: Debian's chromium is missing (apt-get install chromium)")
    else:
        ws.say("memory: household ui, one question through the page")
        ui, processes, answer_seconds = ui_peak(ws, env, asked, chromium)
        figures.update(ui_mib=round(ui), ui_processes=processes, ui_answer_seconds=round(answer_seconds, 1),
                       ui_over_ask=ratio(ui, ask))
        section.row("`household ui` serving one question (server tree)", f"{ui:.0f} MiB",
                    f"{times(figures['ui_over_ask'])} `ask`; answered in {answer_seconds:.0f} s")
    section.figures = figures
    section.notes.append(
        f"Classifier: {product_classifier(ws)}; generator SmolLM2 in-process, "
        f"max_new_tokens={figures['generator_max_new_tokens']}."
    )
    return section
