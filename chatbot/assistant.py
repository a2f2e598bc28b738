"""The one object the CLI and the UI talk to: classifier, store, retriever and generator, each loaded once.

Loading is lazy (the UI shows its page before any model loads) and guarded by a lock, because
Streamlit shares one cached Assistant between the threads of all browser sessions.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator

from chatbot.generator import Generator, load_generator
from chatbot.retrieval import Retrieval, Retriever
from classifier.prediction import Classifier
from household.errors import InputError
from household.settings import Settings
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from storage.store import Store


class Assistant:
    def __init__(
        self,
        settings: Settings,
        taxonomy: Taxonomy,
        classifier: Classifier | None = None,
        store: "Store | None" = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings, self.taxonomy = settings, taxonomy
        self._parts: dict[str, Any] = {"classifier": classifier, "store": store, "generator": generator}
        self._lock = threading.RLock()

    def _once(self, name: str, load: Callable[[], Any]) -> Any:
        if self._parts.get(name) is None:
            with self._lock:
                if self._parts.get(name) is None:
                    self._parts[name] = load()
        return self._parts[name]

    @property
    def embedder(self) -> Any:
        """One MiniLM shared by the store and the embedding classifier."""
        from household.models import load_embedder

        return self._once("embedder", lambda: load_embedder(self.settings.embedding_model))

    @property
    def classifier(self) -> Classifier:
        from classifier.registry import load_classifier

        return self._once("classifier", lambda: load_classifier(self.settings, self.taxonomy, embedder=self.embedder))

    @property
    def store(self) -> "Store":
        from storage.store import Store

        return self._once("store", lambda: Store(self.settings, self.embedder))

    @property
    def generator(self) -> Generator:
        return self._once("generator", lambda: load_generator(self.settings))

    @property
    def retriever(self) -> Retriever:
        return self._once("retriever", lambda: Retriever(self.settings, self.store, self.classifier))

    def retrieve(
        self, question: str, code: str | None = None, k: int | None = None, use_filter: bool = True
    ) -> Retrieval:
        """Classify and search; `code` forces a category (the user corrected the tag)."""
        if code is not None and code not in self.taxonomy.codes:
            raise InputError(f"unknown category code {code!r}; see `household categories`")
        return self.retriever.retrieve(question, k=k, code=code, use_filter=use_filter)

    def answer(self, retrieval: Retrieval) -> Iterator[str]:
        """Stream the answer; a ServiceError propagates (after the pieces already yielded) for the caller to show."""
        yield from self.generator.stream(retrieval.question, retrieval.hits)

    def model_version(self) -> str:
        """What produced the category tags: the active adapter version for an LLM classifier ("base" before
        any fine-tune), else the classifier's name ("embedding")."""
        from classifier.registry import Registry

        if self.classifier.name not in ("llm", "ensemble"):
            return self.classifier.name
        active = Registry(self.settings.models_dir).active()
        return active.version if active else "base"
