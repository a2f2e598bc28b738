"""Retrieval quality on a QA file: hit@k with the category filter, without it, and with the widening policy.

A QA row is {question, category, doc, answer_contains}: `doc` is the file (relative to the corpus
folder) that answers the question, and a retrieved chunk is a hit when it comes from that file and
contains one of the `answer_contains` strings. The classifier's accuracy on the same questions is
reported alongside, since the filter can only be as good as the category it filters by.

A time question adds `today` (YYYY-MM-DD: what "last summer" is relative to) and `older_contains`
(strings of the competing, wrong entries of the same log: an older visit, last year's bill). For
those rows the report also counts, per mode, whether the right entry is ranked above the competing
ones ("ordered": the first hit holding the answer comes before any chunk of the same file holding
only a competing string), and the widening policy run without time awareness, as the baseline.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.retrieval import Retriever
from household.errors import DataError, InputError
from household.jsonl import objects
from household.settings import Settings
from household.taxonomy import Category, Taxonomy

if TYPE_CHECKING:
    from chatbot.assistant import Assistant
    from storage.store import Hit

MODES = ("filter", "no_filter", "widening")
UNTIMED = "widening_untimed"  # the widening policy ignoring the question's time words


@dataclass(frozen=True)
class QA:
    question: str
    code: str
    doc: str
    answer_contains: list[str]
    line: int
    today: date | None = None
    older_contains: tuple[str, ...] = ()


@dataclass
class RetrievalReport:
    k: int
    questions: int = 0
    hits: Counter = field(default_factory=Counter)  # per mode
    classified_right: int = 0
    paths: Counter = field(default_factory=Counter)  # widening policy: path taken per question
    misses: list[dict] = field(default_factory=list)
    timed: int = 0  # questions with a `today`
    ordered: Counter = field(default_factory=Counter)  # per mode (and UNTIMED): right entry above the older ones
    timed_hits: Counter = field(default_factory=Counter)  # per mode (and UNTIMED), time questions only

    def rate(self, mode: str) -> float:
        return self.hits[mode] / self.questions if self.questions else 0.0

    def time_rates(self, mode: str) -> tuple[float, float]:
        """hit@k and ordered rate of `mode` over the time questions."""
        if not self.timed:
            return 0.0, 0.0
        return self.timed_hits[mode] / self.timed, self.ordered[mode] / self.timed

    @property
    def accuracy(self) -> float:
        return self.classified_right / self.questions if self.questions else 0.0

    def as_dict(self) -> dict:
        return {
            "k": self.k, "questions": self.questions,
            "hit_at_k": {mode: round(self.rate(mode), 4) for mode in MODES},
            "classification_accuracy": round(self.accuracy, 4),
            "paths": dict(self.paths), "misses": self.misses,
            **({"time_questions": self.timed, "time": {
                mode: dict(zip(("hit_at_k", "ordered"), (round(r, 4) for r in self.time_rates(mode))))
                for mode in (*MODES, UNTIMED)
            }} if self.timed else {}),
        }


def answer_target(row: dict, path: Path, lineno: int, taxonomy: Taxonomy) -> tuple[Category, str, list[str]]:
    """A QA row's category, answering doc and answer_contains, checked; a bad one is a DataError at its line."""
    category = taxonomy.find(row["category"]) if isinstance(row.get("category"), str) else None
    doc, wanted = row.get("doc"), row.get("answer_contains")
    if category is None:
        raise DataError(path, lineno, f"unknown category {row.get('category')!r}")
    if not isinstance(doc, str) or not doc.strip():
        raise DataError(path, lineno, "missing doc")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) and w for w in wanted):
        raise DataError(path, lineno, "answer_contains must be a non-empty list of strings")
    return category, doc, wanted


def load_qa(path: Path, taxonomy: Taxonomy, required: bool = True) -> list[QA]:
    """Read and validate every row; the first bad row raises DataError with its line.

    Conversation rows (with `turns`) are left to chatbot/followup_evaluation.py; `required=False`
    allows a file that holds only those.
    """
    rows: list[QA] = []
    for lineno, row in objects(path):
        if "turns" in row:
            continue
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DataError(path, lineno, "empty or missing question")
        category, doc, wanted = answer_target(row, path, lineno, taxonomy)
        when, older = today_of(row, path, lineno), row.get("older_contains", [])
        if not isinstance(older, list) or not all(isinstance(o, str) and o for o in older):
            raise DataError(path, lineno, "older_contains must be a list of strings")
        rows.append(QA(question.strip(), category.code, doc.strip().strip("/"), wanted, lineno, when, tuple(older)))
    if not rows and required:
        raise DataError(path, None, "no questions")
    return rows


def today_of(row: dict, path: Path, lineno: int) -> date | None:
    """A row's `today` (what its "last" and "next" mean), or None; a bad one is a DataError at its line."""
    today = row.get("today")
    try:
        return date.fromisoformat(today) if today is not None else None
    except (TypeError, ValueError):
        raise DataError(path, lineno, f"today must be a YYYY-MM-DD date, not {today!r}") from None


def from_doc(hit: "Hit", qa: QA) -> bool:
    """From the right file (sources are absolute paths; attachments end in `#name`)."""
    source = hit.source.split("#", 1)[0].replace("\\", "/")
    return source == qa.doc or source.endswith("/" + qa.doc)


def is_hit(hit: "Hit", qa: QA) -> bool:
    """From the right file and holds the answer."""
    return from_doc(hit, qa) and any(answer in hit.text for answer in qa.answer_contains)


def is_ordered(hits: list["Hit"], qa: QA) -> bool:
    """A hit, and no chunk holding only a competing (older) entry of the same file ranks above it.

    A chunk holding both the answer and a competing entry counts as the answer: retrieval cannot
    order what one chunk holds.
    """
    for hit in hits:
        if is_hit(hit, qa):
            return True
        if from_doc(hit, qa) and any(older in hit.text for older in qa.older_contains):
            return False
    return False


def evaluate(retriever: Retriever, rows: list[QA], k: int, progress: bool = False) -> RetrievalReport:
    from tqdm import tqdm

    report = RetrievalReport(k=k)
    predictions = retriever.classifier.classify_many([qa.question for qa in rows])
    pairs = list(zip(rows, predictions, strict=True))
    for qa, prediction in tqdm(pairs, desc="questions", unit="q", disable=not progress):
        runs = {
            "filter": retriever.retrieve(qa.question, k, code=prediction.code, prediction=prediction, today=qa.today),
            "no_filter": retriever.retrieve(qa.question, k, use_filter=False, prediction=prediction, today=qa.today),
            "widening": retriever.retrieve(qa.question, k, prediction=prediction, today=qa.today),
        }
        if qa.today is not None:
            untimed = retriever.retrieve(qa.question, k, prediction=prediction, time_aware=False)
            report.timed += 1
            for mode, run in [*runs.items(), (UNTIMED, untimed)]:
                report.timed_hits[mode] += any(is_hit(h, qa) for h in run.hits)
                report.ordered[mode] += is_ordered(run.hits, qa)
        report.questions += 1
        report.classified_right += prediction.code == qa.code
        report.paths[runs["widening"].path] += 1
        missed = [mode for mode, run in runs.items() if not any(is_hit(h, qa) for h in run.hits)]
        report.hits.update(mode for mode in MODES if mode not in missed)
        if qa.today is not None and "widening" not in missed and not is_ordered(runs["widening"].hits, qa):
            missed.append("ordered")  # found, but below a competing entry
        if missed:
            report.misses.append({
                "line": qa.line, "question": qa.question, "doc": qa.doc, "category": qa.code,
                "predicted": prediction.code, "confidence": round(prediction.confidence, 3),
                "path": runs["widening"].path, "missed": missed,
            })
    return report


def evaluated_assistant(settings: Settings, taxonomy: Taxonomy, corpus: Path | None, store_dir: Path) -> "Assistant":
    """The Assistant an evaluation asks: over `corpus` ingested into a fresh store in `store_dir` (the models
    and caches stay the configured ones), or without a corpus over the configured store, which must not be empty."""
    from chatbot.assistant import Assistant
    from classifier.registry import load_active
    from household.models import load_embedder
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    if corpus is None:
        assistant = Assistant(settings, taxonomy)
        if assistant.store.count() == 0:
            raise InputError(f"the store {assistant.store.location} is empty: ingest first, or pass --corpus DIR")
        return assistant
    embedder = load_embedder(settings.embedding_model)
    classifier = load_active(settings, taxonomy, embedder=embedder)
    store = Store(settings.replace(data_dir=store_dir, chroma_url=""), embedder)
    report = Pipeline(store.settings, store, CategoryAssigner(settings, taxonomy, classifier=classifier)).run(
        [corpus], progress=True
    )
    if not report.ingested:
        raise InputError(f"nothing readable in {corpus}")
    return Assistant(settings, taxonomy, classifier=classifier, store=store, embedder=embedder)
