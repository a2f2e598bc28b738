"""The Assistant: parts loaded lazily and once, retrieval feeding the generator, failures surfacing."""

from __future__ import annotations

import threading

import pytest
from tests.ollama_server import OllamaStub, closed_url

from chatbot.assistant import Assistant
from household.errors import InputError, ServiceError


def _assistant(store_settings, taxonomy, store, router, url: str) -> Assistant:
    settings = store_settings.replace(generator_backend="ollama", generator_model="qwen3:4b", ollama_host=url)
    return Assistant(settings, taxonomy, classifier=router, store=store)


def test_answer_streams_from_the_retrieved_records(store_settings, taxonomy, store, router) -> None:
    stub = OllamaStub(reply=lambda messages: "Replaced on 2025-05-12 [1]." if "2025-05-12" in messages[-1]["content"]
                      else "I found nothing.")
    with stub as url:
        assistant = _assistant(store_settings, taxonomy, store, router, url)
        retrieval = assistant.retrieve("when was the swimming pool pump replaced?")
        answer = "".join(assistant.answer(retrieval))
    assert retrieval.prediction.code == taxonomy.find("pool").code
    assert answer == "Replaced on 2025-05-12 [1]."
    prompt = stub.requests[-1]["messages"][-1]["content"]
    assert "[1] source: pump-replacement.md" in prompt and retrieval.hits[0].text in prompt


def test_a_down_generator_raises_after_retrieval_succeeded(store_settings, taxonomy, store, router) -> None:
    assistant = _assistant(store_settings, taxonomy, store, router, closed_url())
    retrieval = assistant.retrieve("when was the swimming pool pump replaced?")
    assert retrieval.hits
    with pytest.raises(ServiceError, match="ollama serve"):
        list(assistant.answer(retrieval))


def test_corrected_category_reruns_the_search(store_settings, taxonomy, store, router) -> None:
    assistant = _assistant(store_settings, taxonomy, store, router, closed_url())
    appliances = taxonomy.find("appliances").code
    retrieval = assistant.retrieve("when was the swimming pool pump replaced?", code=appliances)
    assert retrieval.path == "override" and {h.category for h in retrieval.hits} == {appliances}
    with pytest.raises(InputError):
        assistant.retrieve("pump", code="??")


def test_parts_load_once_even_from_many_threads(settings, taxonomy) -> None:
    assistant = Assistant(settings, taxonomy)
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(assistant.classifier)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and all(c is seen[0] for c in seen)
    assert assistant.store is assistant.store and assistant.retriever is assistant.retriever
    assert assistant.model_version() == "default"  # the default head: no version trained yet
    assert assistant.generator.name == "reader"  # the offline default quotes the records, no model to load
