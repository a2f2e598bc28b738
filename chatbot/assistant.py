"""The one object the CLI and the UI talk to: classifier, store, retriever and generator, each loaded once.

Loading is lazy (the UI shows its page before any model loads) and guarded by a lock, because
Streamlit shares one cached Assistant between the threads of all browser sessions.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import TYPE_CHECKING, Any, Callable

from chatbot.generator import Generator, load_generator
from chatbot.retrieval import Retrieval, Retriever
from classifier.prediction import Classifier, Prediction
from household.errors import InputError
from household.settings import Settings
from household.taxonomy import Taxonomy
from storage.feedback import FeedbackStore

if TYPE_CHECKING:
    from chatbot.answer import Answer
    from chatbot.conversation import Conversation
    from chatbot.reader import Reader
    from classifier.corrected import CorrectedClassifier
    from storage.store import Store


def read_as(retrieval: Retrieval) -> str:
    """What the reader answers: a follow-up's own ask about the earlier topic, else the question."""
    return retrieval.follow_up.read_as if retrieval.follow_up else retrieval.question


def check_length(question: str, limit: int) -> None:
    """Refuse a question longer than `limit` (a pasted e-mail would run the generator for minutes)."""
    if len(question) > limit:
        raise InputError(f"the question is {len(question):,} characters long; the limit is {limit:,} "
                         "(max_question_chars): ask it in fewer words")


class Assistant:
    def __init__(
        self,
        settings: Settings,
        taxonomy: Taxonomy,
        classifier: Classifier | None = None,
        store: "Store | None" = None,
        generator: Generator | None = None,
        embedder: Any = None,
    ) -> None:
        self.settings, self.taxonomy = settings, taxonomy
        self._given_classifier = classifier  # wrapped with the corrections on first use
        self._parts: dict[str, Any] = {"store": store, "generator": generator, "embedder": embedder}
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
    def classifier(self) -> "CorrectedClassifier":
        """The active version's classifier, behind the family's corrections (classifier/corrected.py).

        Loaded once: its `version` is what every prediction and every stored correction names, even
        after `household finetune` or `models use` switched the active version under a running UI.
        """
        from classifier.corrected import CorrectedClassifier
        from classifier.registry import load_active

        def load() -> CorrectedClassifier:
            inner = self._given_classifier or load_active(self.settings, self.taxonomy, embedder=self.embedder)
            return CorrectedClassifier(inner, self.embedder, self.settings.correction_similarity,
                                       self.settings.max_question_chars)

        return self._once("classifier", load)

    @property
    def feedback(self) -> FeedbackStore:
        return self._once("feedback", lambda: FeedbackStore(self.settings.feedback_db))

    def _recall_corrections(self) -> None:
        """Give the classifier every correction stored so far (by this or any other process), when they changed."""
        stamp = self.feedback.stamp()
        if stamp != self._parts.get("corrections_stamp"):
            with self._lock:
                self.classifier.remember(self.feedback.corrections())
                self._parts["corrections_stamp"] = stamp

    def classify(self, question: str) -> Prediction:
        """The question's category as the chat would tag it: the family's corrections first, then the model."""
        check_length(question, self.settings.max_question_chars)
        self._recall_corrections()
        return self.classifier.classify(question)

    def correct(self, question: str, predicted: Prediction, code: str, context: str = "") -> int:
        """Store a correction of `predicted` (stamped with the model that made it); it applies from the next question."""
        if code not in self.taxonomy.codes:
            raise InputError(f"unknown category code {code!r}; see `household categories`")
        row = self.feedback.add(question, predicted.code, code, predicted.version or self.classifier.version,
                                context or None)
        self._recall_corrections()
        return row

    @property
    def store(self) -> "Store":
        from storage.store import Store

        return self._once("store", lambda: Store(self.settings, self.embedder))

    @property
    def generator(self) -> Generator:
        return self._once("generator", lambda: load_generator(self.settings, lambda: self.reader))

    @property
    def reader(self) -> Reader:
        """The reader's evidence ranker: it reranks every search's pool of records (any generator)."""
        from chatbot.reader import Reader

        return self._once("reader", lambda: Reader.from_settings(self.settings, self.embedder))

    @property
    def retriever(self) -> Retriever:
        return self._once("retriever", lambda: Retriever(self.settings, self.store, self.classifier,
                                                         rerank=self.reader.rerank))

    def retrieve(
        self, question: str, code: str | None = None, k: int | None = None, use_filter: bool = True,
        history: "Conversation | None" = None, today: date | None = None,
    ) -> Retrieval:
        """Classify and search; `code` forces a category (the user corrected the tag); `today` anchors "last
        summer" and "next" (default: the real date).

        With `history` (the turns so far) a follow-up is read in its conversation (chatbot/followup.py):
        classified in context and searched with a standalone query; `retrieval.follow_up` says how.
        """
        if code is not None and code not in self.taxonomy.codes:
            raise InputError(f"unknown category code {code!r}; see `household categories`")
        check_length(question, self.settings.max_question_chars)
        self._recall_corrections()
        if history:
            from chatbot.followup import retrieve

            return retrieve(self.retriever, question, history, k=k, code=code, use_filter=use_filter, today=today)
        return self.retriever.retrieve(question, k=k, code=code, use_filter=use_filter, today=today)

    def answer(self, retrieval: Retrieval, history: "Conversation | None" = None) -> "Answer":
        """The answer to iterate (streamed pieces), then holding its evidence and unverified facts.

        The reader quotes the records; a generator's answer is checked against them once streamed.
        A ServiceError propagates (after the pieces already yielded) for the caller to show.
        """
        from chatbot.answer import Answer
        from chatbot.reader import Reader

        generator = self.generator
        if isinstance(generator, Reader):
            margin = self.settings.follow_up_margin if retrieval.follow_up else 0.0
            return Answer.quoted(retrieval.hits, generator.read(read_as(retrieval), retrieval.hits, retrieval.today,
                                                                margin))
        return Answer(retrieval.hits, generator.stream(self._in_context(retrieval, history), retrieval.hits))

    def _in_context(self, retrieval: Retrieval, history: "Conversation | None") -> str:
        """The question for the generator: after the earlier turns that fit in num_ctx beside the records."""
        if not history or retrieval.follow_up is None:
            return retrieval.question
        from chatbot.conversation import estimate_tokens, prompt_budget

        budget = prompt_budget(self.settings.num_ctx, self.settings.max_new_tokens,
                               [hit.text for hit in retrieval.hits], estimate_tokens)
        return history.prompt(retrieval.question, budget)

    def model_version(self) -> str:
        """The version of the loaded classifier (v0003; "base" or "default" before any fine-tune)."""
        return self.classifier.version
