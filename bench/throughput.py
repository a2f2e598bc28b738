"""Section 2: batch evaluation throughput: questions per second of `classify_many` on the test split.

The alternative is the same classifier fed one question at a time, measured in the same run: the
ratio is what batching (length-sorted batches of `settings.batch_size`) buys evaluation and ingest.
"""

from __future__ import annotations

from bench.report import Section
from bench.timing import ratio, stopwatch, timed, times
from bench.workspace import Workspace


def run(ws: Workspace) -> Section:
    section = Section("throughput", "2. Batch evaluation throughput (test split)")
    test = ws.split.test[: ws.sizes.batch_questions or None]
    questions = [ex.question for ex in test]
    figures: dict[str, dict] = {}
    for name, classifier in (("llm", ws.llm), ("embedding", ws.embedding)):
        classifier.classify_many(questions[:2])  # warm-up: prefix cache, first-call allocations
        ws.say(f"throughput {name}: classify_many on {len(questions)} questions")
        seconds, predictions = stopwatch(classifier.classify_many, questions)
        one, _ = timed(classifier.classify, questions[: ws.sizes.sequential], desc=f"{name} one at a time")
        batch_qps = len(questions) / seconds
        single_qps = 1000 / one.mean
        correct = sum(p.code == ex.code for p, ex in zip(predictions, test))
        figures[name] = {
            "questions": len(questions), "seconds": round(seconds, 2), "questions_per_s": round(batch_qps, 2),
            "one_at_a_time_questions_per_s": round(single_qps, 2), "one_at_a_time_n": one.n,
            "batch_gain": ratio(batch_qps, single_qps), "accuracy": round(correct / len(test), 4),
        }
    llm, emb = figures["llm"], figures["embedding"]
    section.figures = {"model": ws.adapter, "batch_size": ws.settings.batch_size, **figures,
                       "embedding_over_llm": ratio(emb["questions_per_s"], llm["questions_per_s"])}
    for name, label in (("llm", f"LLM classifier ({ws.adapter})"), ("embedding", "embedding classifier")):
        f = figures[name]
        section.row(f"{label}: questions/s in batches", f"{f['questions_per_s']:.1f}",
                    f"{times(f['batch_gain'])} one at a time ({f['one_at_a_time_questions_per_s']:.1f}/s)")
        section.row(f"{label}: accuracy on the test split", f"{f['accuracy']:.1%}")
    section.row("embedding vs LLM throughput", times(section.figures["embedding_over_llm"]))
    section.notes.append(
        f"{len(questions)} test-split questions in batches of {ws.settings.batch_size}; "
        f"one-at-a-time rate from the mean of {ws.sizes.sequential} single calls."
    )
    return section
