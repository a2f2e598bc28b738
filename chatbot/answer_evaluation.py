"""Answer quality end to end: is the fact in the answer, is it quoted from a cited record, does it abstain when it should.

The QA file is the one `eval-retrieval` reads ({question, category, doc, answer_contains}). An
answer is correct when it holds every `answer_contains` string once both are normalised (a date or
an amount written another way counts) and its text, citations aside, is short (an answer that
pastes whole records is not an answer). The unanswerable file holds {question, kind} rows whose
answer is in no record; there the right answer is to abstain. A row may be a conversation instead,
{turns: [FIRST, ..., LAST], kind}: the earlier turns are asked and answered first, and the last one,
a follow-up the records cannot answer, should be abstained on. Latency runs from the question to
the first piece and to the complete answer, classification and retrieval included.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.answer import CITATION
from chatbot.conversation import Conversation, Exchange
from chatbot.evaluation import QA, today_of
from chatbot.facts import contains
from chatbot.reader import MAX_ANSWER_CHARS
from household.errors import DataError
from household.jsonl import objects

if TYPE_CHECKING:
    from chatbot.assistant import Assistant
    from chatbot.retrieval import Retrieval


@dataclass(frozen=True)
class Unanswerable:
    question: str
    kind: str  # absent (the topic is in no record) | near-miss (the topic is, the fact is not)
    line: int
    earlier: tuple[str, ...] = ()  # a follow-up's conversation: the turns asked before it
    today: date | None = None


@dataclass
class Outcome:
    """One question's answer and how it scored."""

    question: str
    line: int
    answer: str
    abstained: bool
    grounded: bool
    first_s: float
    total_s: float
    correct: bool | None = None  # None on an unanswerable question
    earlier: tuple[str, ...] = ()  # the turns asked before it, for a follow-up
    citation_valid: bool | None = None
    expected: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    kind: str = ""


@dataclass
class AnswerReport:
    backend: str
    answered: list[Outcome] = field(default_factory=list)  # the QA questions
    unanswerable: list[Outcome] = field(default_factory=list)

    def _share(self, rows: list[Outcome], attr: str) -> float | None:
        return round(sum(bool(getattr(r, attr)) for r in rows) / len(rows), 4) if rows else None

    def as_dict(self) -> dict:
        everything = self.answered + self.unanswerable
        firsts, totals = [r.first_s for r in everything], [r.total_s for r in everything]
        lengths = [len(_plain(r.answer)) for r in self.answered]
        cited = [r for r in self.answered if not r.abstained]
        follow_ups = [r for r in self.unanswerable if r.earlier]
        return {
            "backend": self.backend,
            "questions": len(self.answered),
            "accuracy": self._share(self.answered, "correct"),
            "citation_validity": self._share(cited, "citation_valid"),
            "groundedness": self._share(everything, "grounded"),
            "abstained_on_answerable": sum(r.abstained for r in self.answered),
            "unanswerable": len(self.unanswerable),
            "abstention": self._share(self.unanswerable, "abstained"),
            "follow_ups_unanswerable": len(follow_ups),
            "abstention_on_follow_ups": self._share(follow_ups, "abstained"),
            "latency_s": {
                "complete_p50": _quantile(totals, 0.5), "complete_p95": _quantile(totals, 0.95),
                "first_piece_p50": _quantile(firsts, 0.5), "first_piece_p95": _quantile(firsts, 0.95),
            },
            "mean_answer_chars": round(statistics.fmean(lengths), 1) if lengths else None,
            "misses": [_miss(r) for r in self.answered if not r.correct],
            "answered_unanswerable": [_miss(r) for r in self.unanswerable if not r.abstained],
            "ungrounded": [_miss(r) for r in everything if not r.grounded],
        }

    def markdown(self) -> str:
        d = self.as_dict()
        lat = d["latency_s"]
        lines = [
            f"# Answers ({d['backend']})", "",
            "| measure | figure |", "|---|---:|",
            f"| answer accuracy | {_pct(d['accuracy'])} of {d['questions']} |",
            f"| citation validity (answered) | {_pct(d['citation_validity'])} |",
            f"| groundedness (every fact token in a retrieved record) | {_pct(d['groundedness'])} |",
            f"| abstention on unanswerable | {_pct(d['abstention'])} of {d['unanswerable']} |",
            *([f"| of which follow-ups in a conversation | {_pct(d['abstention_on_follow_ups'])} of "
               f"{d['follow_ups_unanswerable']} |"] if d["follow_ups_unanswerable"] else []),
            f"| abstained on answerable | {d['abstained_on_answerable']} |",
            f"| latency p50 / p95, complete answer | {lat['complete_p50']} / {lat['complete_p95']} s |",
            f"| latency p50 / p95, first piece | {lat['first_piece_p50']} / {lat['first_piece_p95']} s |",
            f"| mean answer length | {d['mean_answer_chars']} chars |", "",
        ]
        if d["misses"]:
            lines += ["## Misses", ""] + [f"- line {m['line']}: {m['question']} (wanted {m['expected']}): "
                                          f"{m['answer']!r}" for m in d["misses"]] + [""]
        if d["answered_unanswerable"]:
            lines += ["## Answered although unanswerable", ""] + [
                f"- line {m['line']} ({m['kind']}): {m['question']}: {m['answer']!r}" for m in d["answered_unanswerable"]
            ] + [""]
        return "\n".join(lines)

    def write(self, folder: Path) -> list[Path]:
        return write_report(folder, "answers", self.as_dict(), self.markdown())


def write_report(folder: Path, stem: str, figures: dict, markdown: str) -> list[Path]:
    """`stem`.json and `stem`.md in `folder` (created): the figures for scripts, the page for people."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(markdown, encoding="utf-8")
    return paths


def load_unanswerable(path: Path) -> list[Unanswerable]:
    """Questions and conversations the records cannot answer; the first bad row raises DataError with its line."""
    rows = []
    for lineno, row in objects(path):
        turns = row["turns"] if "turns" in row else [row.get("question")]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise DataError(path, lineno, "empty or missing question" if "turns" not in row
                            else "turns must list non-empty questions")
        turns = [t.strip() for t in turns]
        rows.append(Unanswerable(turns[-1], str(row.get("kind", "")), lineno, tuple(turns[:-1]),
                                 today_of(row, path, lineno)))
    if not rows:
        raise DataError(path, None, "no questions")
    return rows


def evaluate_answers(
    assistant: Assistant, rows: list[QA], unanswerable: list[Unanswerable] = (), progress: bool = False
) -> AnswerReport:
    """Ask every question through the product's path (classify, retrieve, answer) and score the answers."""
    from tqdm import tqdm

    report = AnswerReport(backend=assistant.settings.generator_backend)
    for qa in tqdm(rows, desc="answerable", unit="q", disable=not progress):
        outcome, hits = _ask(assistant, qa.question, qa.line, qa.today)
        text = outcome.answer
        outcome.expected = qa.answer_contains
        outcome.correct = is_correct(text, qa.answer_contains)
        cited = [int(n) for n in CITATION.findall(text)]
        outcome.citation_valid = bool(cited) and all(1 <= n <= len(hits) for n in cited) and all(
            any(contains(hits[n - 1].text, w) for n in cited if 1 <= n <= len(hits)) for w in qa.answer_contains
        )
        report.answered.append(outcome)
    for row in tqdm(unanswerable, desc="unanswerable", unit="q", disable=not progress):
        outcome, _ = _ask(assistant, row.question, row.line, row.today, history_of(assistant, row.earlier, row.today))
        outcome.kind, outcome.earlier = row.kind, row.earlier
        report.unanswerable.append(outcome)
    return report


def is_correct(text: str, wanted: list[str]) -> bool:
    """Holds every wanted string (normalised) and is short, citations aside."""
    return all(contains(text, w) for w in wanted) and len(_plain(text)) <= MAX_ANSWER_CHARS


def history_of(assistant: Assistant, turns: tuple[str, ...] | list[str], today: date | None = None) -> Conversation:
    """The conversation after asking `turns` in order, each read and answered in the turns before it."""
    history = Conversation()
    for question in turns:
        retrieval = assistant.retrieve(question, history=history, today=today)
        history.add(Exchange.of(retrieval, answer_text(assistant, retrieval, history)))
    return history


def answer_text(assistant: Assistant, retrieval: Retrieval, history: Conversation | None = None) -> str:
    """The whole answer; a generator that fails answers nothing (counted wrong, as a person would see it)."""
    from household.errors import ServiceError

    answer = assistant.answer(retrieval, history)
    try:
        for _ in answer:
            pass
    except ServiceError:
        return ""
    return answer.text


def _ask(assistant: Assistant, question: str, line: int, today: date | None = None,
         history: Conversation | None = None) -> tuple[Outcome, list]:
    start = time.perf_counter()
    retrieval = assistant.retrieve(question, today=today, history=history)
    answer = assistant.answer(retrieval, history)
    first = None
    for _ in answer:
        first = first if first is not None else time.perf_counter() - start
    total = time.perf_counter() - start
    outcome = Outcome(question, line, answer.text, answer.abstained, not answer.unverified,
                      round(first if first is not None else total, 4), round(total, 4),
                      unverified=answer.unverified)
    return outcome, retrieval.hits


def _plain(text: str) -> str:
    return CITATION.sub("", text).strip()


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _miss(outcome: Outcome) -> dict:
    return {"line": outcome.line, "question": " / ".join([*outcome.earlier, outcome.question]),
            "expected": outcome.expected, "answer": outcome.answer, "kind": outcome.kind,
            "unverified": outcome.unverified}
