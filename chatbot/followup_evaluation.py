"""Follow-up questions measured: the last turn of each conversation, alone and read in its conversation.

A conversation row is {turns: [FIRST, ..., LAST], category, doc, answer_contains, switch?, standalone?}:
the category and the facts belong to the last turn, which cannot be understood alone. `switch`
marks a last turn that moves to another topic ("and the gutters?" after a tree question);
`standalone` is the same question written to stand on its own, for comparison. Three searches
per row, all with the widening policy:
  - alone: the last turn with no history (the baseline: what the chat did before follow-ups);
  - resolved: every turn in order, each read against the turns before it (chatbot/followup.py);
  - standalone: the standalone question alone, when the row has one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.answer_evaluation import answer_text, history_of, is_correct, write_report
from chatbot.conversation import Conversation, Exchange
from chatbot.evaluation import QA, answer_target, is_hit, today_of
from chatbot.followup import retrieve
from household.errors import DataError
from household.jsonl import objects
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from datetime import date

    from chatbot.assistant import Assistant
    from chatbot.retrieval import Retrieval, Retriever

WAYS = ("alone", "resolved", "standalone")


@dataclass(frozen=True)
class ConversationQA:
    turns: tuple[str, ...]
    last: QA  # the last turn as a QA row: its category, doc and facts
    switch: bool
    standalone: str | None


@dataclass
class ConversationReport:
    k: int
    conversations: int = 0
    switches: int = 0
    with_standalone: int = 0
    hits: Counter = field(default_factory=Counter)  # per way
    on_category: Counter = field(default_factory=Counter)  # per way: searched under the right category
    switch_on_category: Counter = field(default_factory=Counter)  # per way, topic switches only
    read_as_follow_up: int = 0  # last turns the resolver took for follow-ups
    misses: list[dict] = field(default_factory=list)

    def rate(self, way: str) -> float:
        total = self.with_standalone if way == "standalone" else self.conversations
        return self.hits[way] / total if total else 0.0

    def category_rate(self, way: str, switches_only: bool = False) -> float:
        counts, total = (self.switch_on_category, self.switches) if switches_only else (self.on_category,
                                                                                       self.conversations)
        return counts[way] / total if total else 0.0

    def as_dict(self) -> dict:
        return {
            "k": self.k, "conversations": self.conversations, "switches": self.switches,
            "hit_at_k": {way: round(self.rate(way), 4) for way in WAYS},
            "category": {way: round(self.category_rate(way), 4) for way in WAYS},
            "switch_category": {way: round(self.category_rate(way, True), 4) for way in WAYS},
            "read_as_follow_up": self.read_as_follow_up, "misses": self.misses,
        }


def load_conversations(path: Path, taxonomy: Taxonomy) -> list[ConversationQA]:
    """The rows with `turns` (others are left to load_qa); the first bad row raises DataError with its line."""
    rows: list[ConversationQA] = []
    for lineno, row in objects(path):
        if "turns" not in row:
            continue
        turns = row["turns"]
        if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, str) and t.strip() for t in turns):
            raise DataError(path, lineno, "turns must list at least two non-empty questions")
        category, doc, wanted = answer_target(row, path, lineno, taxonomy)
        standalone = row.get("standalone")
        if standalone is not None and (not isinstance(standalone, str) or not standalone.strip()):
            raise DataError(path, lineno, "standalone must be a non-empty question")
        last = QA(turns[-1].strip(), category.code, doc.strip().strip("/"), wanted, lineno,
                  today_of(row, path, lineno))
        rows.append(ConversationQA(tuple(t.strip() for t in turns), last, bool(row.get("switch")),
                                   standalone.strip() if standalone else None))
    return rows


def converse(retriever: "Retriever", turns: tuple[str, ...], k: int, today: "date | None" = None) -> "Retrieval":
    """Every turn in order, each read against the ones before; the last turn's retrieval."""
    history = Conversation()
    for question in turns[:-1]:
        history.add(Exchange.of(retrieve(retriever, question, history, k, today=today)))
    return retrieve(retriever, turns[-1], history, k, today=today)


def evaluate_conversations(
    retriever: "Retriever", rows: list[ConversationQA], k: int, progress: bool = False
) -> ConversationReport:
    from tqdm import tqdm

    report = ConversationReport(k=k)
    for row in tqdm(rows, desc="conversations", unit="c", disable=not progress):
        today = row.last.today
        runs = {"alone": retriever.retrieve(row.last.question, k, today=today),
                "resolved": converse(retriever, row.turns, k, today)}
        if row.standalone:
            runs["standalone"] = retriever.retrieve(row.standalone, k, today=today)
            report.with_standalone += 1
        report.conversations += 1
        report.switches += row.switch
        report.read_as_follow_up += runs["resolved"].follow_up is not None
        for way, run in runs.items():
            right = run.prediction.code == row.last.code
            report.hits[way] += any(is_hit(h, row.last) for h in run.hits)
            report.on_category[way] += right
            report.switch_on_category[way] += right and row.switch
        resolved = runs["resolved"]
        if not any(is_hit(h, row.last) for h in resolved.hits) or resolved.prediction.code != row.last.code:
            report.misses.append({
                "line": row.last.line, "turns": list(row.turns), "doc": row.last.doc, "category": row.last.code,
                "searched_under": resolved.prediction.code, "path": resolved.path, "switch": row.switch,
                "query": resolved.follow_up.query if resolved.follow_up else row.last.question,
                "hit": any(is_hit(h, row.last) for h in resolved.hits),
            })
    return report


@dataclass
class ConversationAnswers:
    """Answer accuracy on the last turns: alone, in the conversation (earlier turns answered too), standalone."""

    conversations: int = 0
    with_standalone: int = 0
    correct: Counter = field(default_factory=Counter)  # per way
    misses: list[dict] = field(default_factory=list)

    def rate(self, way: str) -> float:
        total = self.with_standalone if way == "standalone" else self.conversations
        return self.correct[way] / total if total else 0.0

    def as_dict(self) -> dict:
        return {"conversations": self.conversations, "accuracy": {way: round(self.rate(way), 4) for way in WAYS},
                "misses": self.misses}

    def markdown(self) -> str:
        lines = [f"## Follow-up questions ({self.conversations} conversations, last turn)", "",
                 "| asked | answer accuracy |", "|---|---:|"]
        labels = {"alone": "alone (no history)", "resolved": "in its conversation", "standalone": "standalone question"}
        lines += [f"| {labels[way]} | {self.rate(way):.1%} |" for way in WAYS] + [""]
        if self.misses:
            lines += ["## Missed in conversation", ""] + [
                f"- line {m['line']}: {' / '.join(m['turns'])} (wanted {m['expected']}): {m['answer']!r}"
                for m in self.misses] + [""]
        return "\n".join(lines)

    def write(self, folder: Path) -> list[Path]:
        return write_report(folder, "conversations", self.as_dict(), self.markdown())


def answer_conversations(
    assistant: "Assistant", rows: list[ConversationQA], progress: bool = False
) -> ConversationAnswers:
    """Ask every conversation through the product's path, scored as eval-answers scores any answer."""
    from tqdm import tqdm

    report = ConversationAnswers()
    for row in tqdm(rows, desc="conversations", unit="c", disable=not progress):
        today = row.last.today
        history = history_of(assistant, row.turns[:-1], today)
        resolved = assistant.retrieve(row.last.question, history=history, today=today)
        texts = {"alone": answer_text(assistant, assistant.retrieve(row.last.question, today=today)),
                 "resolved": answer_text(assistant, resolved, history)}
        if row.standalone:
            texts["standalone"] = answer_text(assistant, assistant.retrieve(row.standalone, today=today))
            report.with_standalone += 1
        report.conversations += 1
        for way, text in texts.items():
            report.correct[way] += is_correct(text, row.last.answer_contains)
        if not is_correct(texts["resolved"], row.last.answer_contains):
            report.misses.append({"line": row.last.line, "turns": list(row.turns),
                                  "expected": row.last.answer_contains, "answer": texts["resolved"]})
    return report


