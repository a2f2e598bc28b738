"""Section 1: classification latency, one question at a time, four ways.

(a) the product: every label scored in one pass, the prompt prefix's KV cache reused;
(b) the same pass with the prefix recomputed for every question (what the cache saves);
(c) the seed's way: greedy generation of up to 8 tokens, then parsing a code out of the text;
(d) the embedding classifier (MiniLM + logistic head).
(a), (b) and (c) run the same model with the same prompt, so only the method differs.
"""

from __future__ import annotations

import random
from typing import Callable

import torch

from bench.report import Section
from bench.timing import Latency, ratio, timed, times
from bench.workspace import Workspace
from classifier.dataset import Example
from classifier.llm import LLMClassifier
from classifier.prediction import Prediction

SPEEDUP_TARGET = 5.0


def scorer(llm: LLMClassifier, prefix: bool) -> Callable[[str], Prediction]:
    """One question through `LLMClassifier.score`, with or without the cached prefix."""

    def classify(question: str) -> Prediction:
        with torch.no_grad():
            scores = llm.score([question], prefix=prefix)[0].tolist()
        return Prediction.from_scores(scores, llm.taxonomy)

    return classify


def sample(examples: list[Example], n: int) -> list[Example]:
    """A fixed random sample, so every run and every method sees the same questions."""
    return random.Random(0).sample(examples, min(n, len(examples)))


def run(ws: Workspace) -> Section:
    from classifier.generative import GenerativeClassifier

    section = Section("classification", "1. Classification latency (one question at a time)")
    llm, embedding, codes = ws.llm, ws.embedding, set(ws.taxonomy.codes)
    generative = GenerativeClassifier(llm.model, llm.tokenizer, ws.taxonomy, llm.label_mode, llm.max_chars, batch_size=1)
    generative.prompt = llm.prompt  # same prompt as (a) and (b): only the decoding differs
    examples = sample(ws.split.test, ws.sizes.questions)
    generated = examples[: ws.sizes.generated]
    methods = {
        "a_cached_prefix": ("(a) code scoring, cached prefix", scorer(llm, True), examples),
        "b_no_prefix_cache": ("(b) code scoring, no prefix cache", scorer(llm, False), examples),
        "c_generate_parse": ("(c) seed: generate 8 tokens + parse", generative.classify, generated),
        "d_embedding": ("(d) embedding classifier", embedding.classify, examples),
    }
    figures: dict[str, dict] = {}
    latency: dict[str, Latency] = {}
    for key, (label, classify, items) in methods.items():
        ws.say(f"classification {label}: {len(items)} questions")
        latency[key], predictions = timed(classify, [ex.question for ex in items], desc=label)
        invalid = sum(p.code not in codes for p in predictions)
        correct = sum(p.code == ex.code for p, ex in zip(predictions, items))
        figures[key] = {**latency[key].as_dict(), "invalid": invalid, "invalid_rate": round(invalid / len(items), 4),
                        "accuracy": round(correct / len(items), 4)}
    speedup = ratio(latency["c_generate_parse"].p50, latency["a_cached_prefix"].p50)
    cache_gain = ratio(latency["b_no_prefix_cache"].p50, latency["a_cached_prefix"].p50)
    versus_embedding = ratio(latency["a_cached_prefix"].p50, latency["d_embedding"].p50)
    section.figures = {
        "model": ws.adapter, "prompt_style": llm.prompt_style, "label_mode": llm.label_mode,
        "prefix_tokens": len(llm.prefix_ids), "methods": figures,
        "speedup_a_over_c": speedup, "prefix_cache_gain_b_over_a": cache_gain, "a_over_d": versus_embedding,
        "sample_outputs_c": dict(list(generative.outputs.items())[:5]),
    }
    section.targets = {
        f"(a) >= {SPEEDUP_TARGET:g}x faster than (c)": bool(speedup and speedup >= SPEEDUP_TARGET),
        "(a) has no invalid outputs": figures["a_cached_prefix"]["invalid"] == 0,
    }
    versus = {
        "a_cached_prefix": f"{times(speedup)} faster than (c)",
        "b_no_prefix_cache": f"{times(cache_gain)} slower than (a)",
        "c_generate_parse": f"{figures['c_generate_parse']['invalid_rate']:.0%} invalid outputs",
        "d_embedding": f"(a) takes {times(versus_embedding)} its time",
    }
    for key, (label, _, items) in methods.items():
        f = figures[key]
        section.row(f"{label}: p50 / p95", str(latency[key]), versus[key])
        section.row(f"{label}: accuracy, invalid", f"{f['accuracy']:.0%}, {f['invalid']} of {len(items)}")
    section.notes.append(
        f"Model: SmolLM2-135M ({ws.adapter}), {llm.label_mode} labels, '{llm.prompt_style}' prompt "
        f"({len(llm.prefix_ids)} prefix tokens); {len(examples)} test-split questions ({len(generated)} for (c))."
    )
    return section
