"""Answers written from the retrieved records: the prompt, and the Ollama and in-process backends.

Both backends stream text pieces. A backend that cannot answer (Ollama down, model not pulled,
too slow) raises `ServiceError` whose message says what to run, so the caller can show it next
to the records it already retrieved.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from chatbot.retrieval import source_name
from household.errors import ConfigError, ServiceError
from household.settings import Settings

if TYPE_CHECKING:
    from storage.store import Hit

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer a family's questions about their own household records. "
    "Use only the numbered records the user gives you. "
    "Answer in one to three short sentences and cite the records you used as [1], [2]. "
    "If the records do not contain the answer, say that you found nothing about it in the records; never guess."
)
NOTHING_FOUND = (
    "No household records matched this question. "
    "Tell the user in one sentence that you found nothing about it in their records. Do not guess."
)


class Generator(Protocol):
    name: str

    def stream(self, question: str, hits: list["Hit"]) -> Iterator[str]: ...

    def status(self) -> str: ...


def describe(hit: "Hit") -> str:
    """The header line of a record in the prompt: where it comes from and when."""
    meta = hit.meta
    parts = [f"source: {source_name(hit)}"]
    if meta.title and meta.title != source_name(hit):
        parts.append(f"title: {meta.title}")
    if meta.date:
        parts.append(f"date: {meta.date}")
    return ", ".join(parts)


def build_messages(question: str, hits: list["Hit"]) -> list[dict[str, str]]:
    """The chat prompt: numbered records with source and date, then the question."""
    if not hits:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"{NOTHING_FOUND}\n\nQuestion: {question}"},
        ]
    records = "\n\n".join(f"[{i}] {describe(hit)}\n{hit.text.strip()}" for i, hit in enumerate(hits, 1))
    user = f"Records:\n\n{records}\n\nQuestion: {question}\nAnswer briefly and cite the records as [1], [2]."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class OllamaGenerator:
    """Streams from an Ollama server with an explicit context size (its default truncates silently)."""

    name = "ollama"

    def __init__(self, host: str, model: str, timeout: float, num_ctx: int, think: bool = False) -> None:
        import ollama

        self.host, self.model, self.timeout, self.num_ctx, self.think = host, model, timeout, num_ctx, think
        self.client = ollama.Client(host=host, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> "OllamaGenerator":
        return cls(settings.ollama_host, settings.generator_model, settings.ollama_timeout, settings.num_ctx,
                   settings.think)

    def stream(self, question: str, hits: list["Hit"]) -> Iterator[str]:
        try:
            parts = self.client.chat(
                model=self.model, messages=build_messages(question, hits), stream=True, think=self.think,
                options={"num_ctx": self.num_ctx},
            )
            for part in parts:
                if part.message.content:
                    yield part.message.content
        except Exception as exc:  # noqa: BLE001 - every failure becomes one actionable message
            raise self._service_error(exc) from exc

    def status(self) -> str:
        import ollama

        try:
            pulled = {m.model for m in ollama.Client(host=self.host, timeout=min(self.timeout, 3.0)).list().models}
        except Exception as exc:  # noqa: BLE001
            return f"down: {self._service_error(exc)}"
        if _tagged(self.model) in {_tagged(name or "") for name in pulled}:
            return f"ollama at {self.host}: {self.model} ready"
        return f"ollama at {self.host}: {self.model} not pulled: run `ollama pull {self.model}`"

    def _service_error(self, exc: Exception) -> ServiceError:
        import httpx
        import ollama

        if isinstance(exc, (httpx.ConnectError, ConnectionError)):
            return ServiceError(f"Ollama is not running at {self.host}: start it with `ollama serve`")
        if isinstance(exc, httpx.TimeoutException):
            return ServiceError(
                f"Ollama at {self.host} did not answer within {self.timeout:g} s: "
                "check `ollama ps`, or raise the ollama_timeout setting"
            )
        if isinstance(exc, ollama.ResponseError) and (exc.status_code == 404 or "not found" in exc.error):
            return ServiceError(f"model {self.model} is not pulled: run `ollama pull {self.model}`")
        if isinstance(exc, ollama.ResponseError):
            return ServiceError(f"Ollama at {self.host} failed: {exc.error}")
        return ServiceError(f"Ollama at {self.host} failed: {type(exc).__name__}: {exc}".splitlines()[0])


def _tagged(model: str) -> str:
    """Ollama's own rule: a model named without a tag means `:latest`."""
    return model if ":" in model else model + ":latest"


class TransformersGenerator:
    """In-process generation (the offline profile's SmolLM2): greedy, streamed from a worker thread."""

    name = "transformers"

    def __init__(self, spec: str, cache_dir: Path, max_new_tokens: int, lm: tuple[Any, Any] | None = None) -> None:
        self.spec, self.cache_dir, self.max_new_tokens = spec, cache_dir, max_new_tokens
        if lm is not None:
            self.__dict__["lm"] = lm

    @classmethod
    def from_settings(cls, settings: Settings) -> "TransformersGenerator":
        return cls(settings.generator_model, settings.cache_dir, settings.max_new_tokens)

    @cached_property
    def lm(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded on the first answer so the UI starts without waiting."""
        from household.models import load_causal_lm

        return load_causal_lm(self.spec, self.cache_dir)

    def stream(self, question: str, hits: list["Hit"]) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        model, tokenizer = self.lm
        inputs = tokenizer.apply_chat_template(
            build_messages(question, hits), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.no_grad():
                    model.generate(
                        **inputs, streamer=streamer, do_sample=False, max_new_tokens=self.max_new_tokens,
                        pad_token_id=tokenizer.pad_token_id,
                    )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if failure:
            raise ServiceError(f"generation with {Path(self.spec).name} failed: {failure[0]}".splitlines()[0])

    def status(self) -> str:
        state = "loaded" if "lm" in self.__dict__ else "loads on first answer"
        return f"transformers (in-process): {Path(self.spec.split('/')[-1]).stem} {state}"


def load_generator(settings: Settings) -> Generator:
    """The backend named by settings.generator_backend."""
    if settings.generator_backend == "ollama":
        return OllamaGenerator.from_settings(settings)
    if settings.generator_backend == "transformers":
        return TransformersGenerator.from_settings(settings)
    raise ConfigError(f"unknown generator backend {settings.generator_backend!r}")
