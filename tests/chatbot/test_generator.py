"""The prompt, the Ollama backend against a loopback server speaking Ollama's wire format, and SmolLM2."""

from __future__ import annotations

import pytest
from tests.ollama_server import OllamaStub, closed_url

from chatbot.generator import OllamaGenerator, TransformersGenerator, build_messages, load_generator
from household.errors import ServiceError
from tests.hits import hit

HITS = [
    hit("pool-pump#0", "2025-05-12: Hayward MaxFlo pump replaced by BlueWave Pools, $1,140.",
        "/home/family/records/pool/pool-pump-replacement-2025.md", "OO", 0.31,
        title="Pool pump replacement", date="2025-05-12"),
    hit("chem#3", "Backwashed the filter; chlorine 3 ppm.", "/home/family/records/pool/chemical-log.csv", "OO", 0.52,
        date="2025-06-01", chunk_index=3),
]


def _ollama(settings, url: str, **changes) -> OllamaGenerator:
    return load_generator(settings.replace(generator_backend="ollama", ollama_host=url, generator_model="qwen3:4b",
                                           **changes))


def test_prompt_numbers_records_with_source_and_date() -> None:
    messages = build_messages("when was the pool pump replaced?", HITS)
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system" and "[1]" in messages[0]["content"]
    assert user.index("[1] source: pool-pump-replacement-2025.md") < user.index("[2] source: chemical-log.csv")
    assert "date: 2025-05-12" in user and "title: Pool pump replacement" in user
    assert HITS[0].text in user and user.rstrip().endswith("[2].")
    assert "when was the pool pump replaced?" in user


def test_prompt_without_records_asks_to_say_nothing_was_found() -> None:
    user = build_messages("what is the wifi password?", [])[-1]["content"]
    assert "[1]" not in user and "found nothing" in user and "what is the wifi password?" in user


def test_ollama_streams_pieces_and_sends_context_size_and_think(settings) -> None:
    stub = OllamaStub(reply="The pump was replaced on 2025-05-12 [1].")
    with stub as url:
        generator = _ollama(settings, url, num_ctx=6144)
        pieces = list(generator.stream("when was the pool pump replaced?", HITS))
    assert len(pieces) > 3
    assert "".join(pieces) == "The pump was replaced on 2025-05-12 [1]."
    request = stub.requests[-1]
    assert request["model"] == "qwen3:4b" and request["stream"] is True
    assert request["options"]["num_ctx"] == 6144 and request["think"] is False
    assert request["messages"] == build_messages("when was the pool pump replaced?", HITS)


def test_ollama_status_reports_ready_and_missing_model(settings) -> None:
    with OllamaStub(models=["qwen3:4b"]) as url:
        assert _ollama(settings, url).status() == f"ollama at {url}: qwen3:4b ready"
    with OllamaStub(models=["llama3.2:latest"]) as url:
        assert "`ollama pull qwen3:4b`" in _ollama(settings, url).status()
    assert "`ollama serve`" in _ollama(settings, closed_url()).status()


def test_ollama_down_says_to_start_it(settings) -> None:
    url = closed_url()
    with pytest.raises(ServiceError, match=r"not running at .*: start it with `ollama serve`"):
        list(_ollama(settings, url).stream("q", HITS))


def test_ollama_model_not_pulled_says_to_pull_it(settings) -> None:
    with OllamaStub(models=["llama3.2:latest"]) as url:
        with pytest.raises(ServiceError, match=r"^model qwen3:4b is not pulled: run `ollama pull qwen3:4b`$"):
            list(_ollama(settings, url).stream("q", HITS))


def test_ollama_timeout_is_a_clear_message(settings) -> None:
    with OllamaStub(delay=2.0) as url:
        with pytest.raises(ServiceError, match=r"did not answer within 0.3 s"):
            list(_ollama(settings, url, ollama_timeout=0.3).stream("q", HITS))


def test_transformers_status_does_not_load_the_model(settings) -> None:
    generator = load_generator(settings.replace(generator_backend="transformers"))
    assert isinstance(generator, TransformersGenerator)
    assert "loads on first answer" in generator.status() and "lm" not in generator.__dict__


@pytest.mark.slow
def test_transformers_backend_streams_real_smollm2_tokens(settings, smollm) -> None:
    generator = TransformersGenerator(settings.generator_model, settings.cache_dir, max_new_tokens=12, lm=smollm)
    pieces = list(generator.stream("when was the pool pump replaced?", HITS))
    text = "".join(pieces)
    assert len(pieces) >= 2 and text.strip()
    _, tokenizer = smollm
    assert 2 <= len(tokenizer(text, add_special_tokens=False).input_ids) <= 12 + 2
    assert "<|im_" not in text, "special tokens are skipped"
