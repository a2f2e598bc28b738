"""Section: time to an answer, question to last piece, classification and retrieval included.

The sample household (data/household; in a smoke test only the files of its questions) is ingested
into a store of its own; the product's path (`Assistant.retrieve` then `Assistant.answer`, the
default classifier) answers the first `questions` QA questions and as many unanswerable ones with
the offline reader, and a few with SmolLM2 generating (`generator_backend = transformers`), the
alternative the reader replaced.
Accuracy and abstention ride along, so a faster reader that got worse would show.
"""

from __future__ import annotations

from bench.report import Section
from bench.workspace import Workspace
from chatbot.answer_evaluation import evaluate_answers, load_unanswerable
from chatbot.evaluation import load_qa

TARGET_P50_S = 1.5
GENERATED = 3  # SmolLM2 takes tens of seconds an answer on 2 cores: a sample says enough


def run(ws: Workspace) -> Section:
    from chatbot.assistant import Assistant
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    section = Section("answers", "Answers: question to complete answer (classify + retrieve + answer)")
    settings = ws.settings_for("answers")
    corpus = settings.corpus_dir
    classifier = ws.embedding
    rows = load_qa(corpus / "qa.jsonl", ws.taxonomy)[: ws.sizes.questions]
    unanswerable = load_unanswerable(corpus / "unanswerable.jsonl")[: ws.sizes.questions]
    store = Store(settings, ws.embedder)
    paths = ws.corpus_paths(corpus, [qa.doc for qa in rows])
    ws.say(f"ingesting {len(paths)} path(s) under {corpus} for the answer benchmark")
    Pipeline(settings, store, CategoryAssigner(settings, ws.taxonomy, classifier=classifier)).run(paths)
    figures = {}
    for backend, questions, nothing in (("reader", rows, unanswerable), ("transformers", rows[:GENERATED], [])):
        assistant = Assistant(settings.replace(generator_backend=backend), ws.taxonomy, classifier=classifier,
                              store=store)
        ws.say(f"answering {len(questions) + len(nothing)} questions with {backend}")
        figures[backend] = evaluate_answers(assistant, questions, nothing).as_dict()
        for key in ("misses", "answered_unanswerable", "ungrounded"):
            figures[backend].pop(key)
    section.figures = figures
    reader, generated = figures["reader"], figures["transformers"]
    p50 = reader["latency_s"]["complete_p50"]
    section.row("reader p50 / p95, complete answer", f"{p50} / {reader['latency_s']['complete_p95']} s",
                f"SmolLM2 generating: {generated['latency_s']['complete_p50']} s p50 "
                f"({generated['questions']} questions)")
    section.row("reader accuracy / abstention (this sample)",
                f"{reader['accuracy']:.1%} of {reader['questions']} / {reader['abstention']:.1%} "
                f"of {reader['unanswerable']}", f"SmolLM2: {generated['accuracy']:.1%} of {generated['questions']}")
    section.row("first piece p50: reader / SmolLM2", f"{reader['latency_s']['first_piece_p50']} s",
                f"{generated['latency_s']['first_piece_p50']} s")
    section.targets[f"reader p50 <= {TARGET_P50_S} s"] = p50 is not None and p50 <= TARGET_P50_S
    return section
