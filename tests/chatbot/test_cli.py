"""`household ask|search|eval-retrieval|feedback` through click, on the real store and the Ollama stub."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.ollama_server import OllamaStub, closed_url

from storage.feedback import FeedbackStore
from cli.main import main

QUESTION = "when was the swimming pool pump replaced?"
ANSWER = "BlueWave Pools replaced it on 2025-05-12 [1]."


@pytest.fixture
def household(store, store_settings, monkeypatch: pytest.MonkeyPatch):
    """Run `household --data-dir <the shared store> ARGS...`, answers from an Ollama stub."""
    monkeypatch.setenv("HOUSEHOLD_GENERATOR_BACKEND", "ollama")
    monkeypatch.setenv("HOUSEHOLD_GENERATOR_MODEL", "qwen3:4b")

    def run(*args: str, data_dir: Path | None = None):
        return CliRunner().invoke(main, ["--data-dir", str(data_dir or store_settings.data_dir), *args])

    return run


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch):
    stub = OllamaStub(reply=ANSWER)
    with stub as url:
        monkeypatch.setenv("HOUSEHOLD_OLLAMA_HOST", url)
        yield stub


def test_ask_prints_tag_answer_and_sources(household, ollama, taxonomy) -> None:
    result = household("ask", QUESTION)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[pool]") and "search: " in lines[0]
    assert lines[1] == ANSWER
    sources = lines[lines.index("Sources:") + 1 :]
    assert sources[0].startswith("  [1] pump-replacement.md") and "pool" in sources[0]
    assert ollama.requests[-1]["options"]["num_ctx"] > 0


def test_ask_json(household, ollama, taxonomy) -> None:
    result = household("ask", QUESTION, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["answer"] == ANSWER and out["error"] is None
    assert out["classification"]["category"] == "pool" and out["path"] in {"filtered", "widened-2", "widened-3"}
    assert out["sources"][0]["name"] == "pump-replacement.md" and out["sources"][0]["rank"] == 1


def test_ask_after_a_correction_tags_its_paraphrase_as_corrected_earlier(
    household, ollama, store_settings, taxonomy
) -> None:
    feedback = FeedbackStore(store_settings.feedback_db)  # the shared store's: removed again below
    row = feedback.add(QUESTION, taxonomy.find("pool").code, taxonomy.find("fountain").code, "default")
    try:
        paraphrase = "when did the swimming pool pump get replaced?"
        printed = household("ask", paraphrase)
        as_json = household("ask", paraphrase, "--json")
        unrelated = household("ask", "when was the car oil changed?", "--json")
    finally:
        feedback.delete(row)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.splitlines()[0].startswith("[fountain]")
    assert "(as you corrected earlier)" in printed.stdout.splitlines()[0]
    classification = json.loads(as_json.stdout)["classification"]
    assert (classification["category"], classification["origin"]) == ("fountain", "correction")
    assert json.loads(unrelated.stdout)["classification"]["origin"] == "classifier"


def test_classify_follows_a_correction_unless_told_to_ignore_it(household, store_settings, taxonomy) -> None:
    feedback = FeedbackStore(store_settings.feedback_db)
    row = feedback.add(QUESTION, taxonomy.find("pool").code, taxonomy.find("fountain").code, "default")
    try:
        paraphrase = "when did the swimming pool pump get replaced?"
        printed = household("classify", paraphrase)
        as_json = household("classify", paraphrase, "--json")
        own = household("classify", paraphrase, "--json", "--ignore-corrections")
    finally:
        feedback.delete(row)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("fountain [") and "(as you corrected earlier)" in printed.stdout.splitlines()[0]
    assert (json.loads(as_json.stdout)["category"], json.loads(as_json.stdout)["origin"]) == ("fountain", "correction")
    assert (json.loads(own.stdout)["category"], json.loads(own.stdout)["origin"]) == ("pool", "classifier")


def test_ask_with_ollama_down_still_shows_sources(household, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOUSEHOLD_OLLAMA_HOST", closed_url())
    result = household("ask", QUESTION)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Error: Ollama is not running at" in result.stderr and "`ollama serve`" in result.stderr
    assert "[1] pump-replacement.md" in result.stdout


def test_ask_with_model_not_pulled_json(household, monkeypatch: pytest.MonkeyPatch) -> None:
    with OllamaStub(models=["llama3.2:latest"]) as url:
        monkeypatch.setenv("HOUSEHOLD_OLLAMA_HOST", url)
        result = household("ask", QUESTION, "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["error"] == "model qwen3:4b is not pulled: run `ollama pull qwen3:4b`" and out["sources"]


def test_empty_question_is_one_line_error(household) -> None:
    result = household("ask", "   ")
    assert result.exit_code == 1 and result.stderr.strip() == "Error: the question is empty"


def test_search_json_shows_classification_path_and_chunks(household, taxonomy) -> None:
    result = household("search", QUESTION, "--json", "-k", "2")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["classification"]["code"] == taxonomy.find("pool").code
    assert out["path"] == "filtered" or out["path"].startswith("widened")
    assert [h["rank"] for h in out["hits"]] == [1, 2]
    assert out["hits"][0]["name"] == "pump-replacement.md" and "2025-05-12" in out["hits"][0]["text"]
    assert {"source", "category", "distance", "text"} <= set(out["hits"][0])


def test_search_no_filter_and_forced_category(household, taxonomy) -> None:
    everything = json.loads(household("search", QUESTION, "--no-filter", "-k", "6", "--json").stdout)
    assert everything["path"] == "no-filter" and len({h["code"] for h in everything["hits"]}) == 4
    forced = household("search", QUESTION, "--category", "appliances")
    assert forced.exit_code == 0 and "search: override" in forced.stdout and "oven-repair.md" in forced.stdout
    assert "[appliances] as you asked" in forced.stdout and "[pool]" not in forced.stdout
    unknown = household("search", QUESTION, "--category", "spaceships")
    assert unknown.exit_code == 1 and "unknown category 'spaceships'" in unknown.stderr


def test_eval_retrieval_on_a_corpus(household, corpus: Path, tmp_path: Path, settings) -> None:
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"question": "when was the pool pump replaced", "category": "pool", "doc": "pool/pump-replacement.md",
         "answer_contains": ["2025-05-12"]},
        {"question": "what part fixed the oven", "category": "appliances", "doc": "appliances/oven-repair.md",
         "answer_contains": ["WB44T10011"]},
        {"question": "what is the wifi password", "category": "general", "doc": "general/wifi.md",
         "answer_contains": ["hunter2"]},
    ]
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = household("eval-retrieval", str(qa), "--corpus", str(corpus), "-k", "3", "--json",
                       data_dir=settings.data_dir)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["questions"] == 3 and out["k"] == 3
    assert out["hit_at_k"]["no_filter"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["hit_at_k"]["widening"] == pytest.approx(2 / 3, abs=1e-3)
    assert [m["line"] for m in out["misses"]] == [3]
    assert 0 <= out["classification_accuracy"] <= 1 and sum(out["paths"].values()) == 3
    assert not (settings.data_dir / "chroma").exists(), "the temporary store is not the configured one"


def test_eval_retrieval_reports_a_bad_row(household, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "q", "category": "pool", "doc": "a.md", "answer_contains": ["x"]}\n{"question": "q"\n')
    result = household("eval-retrieval", str(qa))
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {qa}:2: not valid JSON")


def test_feedback_list_delete_export(household, settings, taxonomy, tmp_path: Path) -> None:
    feedback = FeedbackStore(settings.feedback_db)
    first = feedback.add("pump is loud", "RH", "OO", "embedding")
    feedback.add("trim the oak", "NQ", "FB", "embedding")
    listed = household("feedback", "list", data_dir=settings.data_dir)
    assert listed.exit_code == 0 and "fountain -> pool  pump is loud" in listed.stdout
    assert household("feedback", "delete", str(first), data_dir=settings.data_dir).exit_code == 0
    again = household("feedback", "delete", str(first), data_dir=settings.data_dir)
    assert again.exit_code == 1 and f"no correction with id {first}" in again.stderr
    out = tmp_path / "feedback.jsonl"
    exported = household("feedback", "export", str(out), data_dir=settings.data_dir)
    assert exported.exit_code == 0 and "Wrote 1 corrections" in exported.stdout
    assert [json.loads(line)["category"] for line in out.read_text().splitlines()] == ["tree service"]


def test_ui_serves_on_loopback_and_stops_on_sigterm(settings, tmp_path: Path) -> None:
    """`household ui` becomes the Streamlit server itself, so a plain kill stops it (no orphan left behind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "ui.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(Path(sys.executable).with_name("household")), "ui", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    assert response.read() == b"ok"
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        assert f"http://127.0.0.1:{port}" in log.read_text()
    finally:
        server.terminate()
        assert server.wait(timeout=30) is not None
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "nothing is left listening"
