"""`household chat` and `household ask --follow-up-of`, on the real store with the Ollama stub answering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.ollama_server import OllamaStub

from cli.main import main

FIRST = "when was the swimming pool pump replaced?"


def _reply(messages: list[dict]) -> str:
    """Answers from the records the prompt carries, so the test sees which record reached the generator."""
    return "BlueWave Pools, $1,140 [1]." if "BlueWave" in messages[-1]["content"] else "Nothing found."


@pytest.fixture
def household(store_settings, store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOUSEHOLD_GENERATOR_BACKEND", "ollama")
    monkeypatch.setenv("HOUSEHOLD_GENERATOR_MODEL", "qwen3:4b")
    monkeypatch.setenv("HOUSEHOLD_CLASSIFIER", "embedding")
    stub = OllamaStub(reply=_reply)
    with stub as url:
        monkeypatch.setenv("HOUSEHOLD_OLLAMA_HOST", url)

        def run(*args: str, stdin: str | None = None):
            return CliRunner().invoke(main, ["--data-dir", str(Path(store_settings.data_dir)), *args], input=stdin)

        yield run


def test_chat_reads_each_question_in_the_conversation_and_ends_on_eof(household) -> None:
    result = household("chat", stdin=f"{FIRST}\nwho did it?\n/new\nwho did it?\n")
    assert result.exit_code == 0, result.output
    tags = [line[2:] for line in result.stdout.splitlines() if line.startswith("> [")]  # prompt, then the tag
    assert len(tags) == 3
    assert tags[0].startswith("[pool]") and "previous question" not in tags[0]
    assert tags[1].startswith("[pool]") and "from your previous question" in tags[1]
    assert "from your previous question" not in tags[2]  # /new forgot the context
    assert result.stdout.count("BlueWave Pools, $1,140 [1].") >= 2 and "Sources:" in result.stdout


def test_ask_follow_up_of_a_previous_question(household) -> None:
    result = household("ask", "how much did it cost?", "--follow-up-of", FIRST, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["follow_up"]["carried"] is True and out["follow_up"]["previous"] == FIRST
    assert out["classification"]["category"] == "pool"
    assert out["answer"] == "BlueWave Pools, $1,140 [1]."
