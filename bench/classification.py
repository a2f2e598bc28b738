"""Section 1: classification latency, one question at a time, five ways.

(a) the product: every label scored in one pass, the prompt prefix's KV cache reused;
(b) the same pass with the prefix recomputed for every question (what the cache saves);
(c) the seed's way: greedy generation of up to 8 tokens, then parsing a code out of the text,
    the whole prompt through `model.generate` for every question, as the seed write-up did;
(c') the same through `GenerativeClassifier`, which keeps the prompt prefix's KV cache: the
    fair comparison of scoring against generating, with the prefix cost taken out of both;
(d) the embedding classifier (MiniLM + logistic head).
All LLM ways run the same model; (a) and (b) use the classifier's prompt, (c) and (c') the full one.
"""

from __future__ import annotations

import random
from typing import Callable

import torch

from bench.report import Section
from bench.timing import Latency, ratio, timed, times
from bench.workspace import Workspace
from classifier.dataset import Example
from classifier.generative import GenerativeClassifier
from classifier.llm import LLMClassifier
from classifier.prediction import Prediction, clean_question

SPEEDUP_TARGET = 5.0


def scorer(llm: LLMClassifier, prefix: bool) -> Callable[[str], str]:
    """One question through `LLMClassifier.score`, with or without the cached prefix; returns the code."""

    def classify(question: str) -> str:
        with torch.no_grad():
            scores = llm.score([question], prefix=prefix)[0].tolist()
        return Prediction.from_scores(scores, llm.taxonomy).code

    return classify


def seed_generation(generative: GenerativeClassifier, outputs: dict[str, str]) -> Callable[[str], str]:
    """The seed's way literally: the whole prompt through `model.generate`, no cache kept; "" when invalid.
    What the model wrote is kept in `outputs` (question -> text) for the results file."""
    tokenizer, model = generative.tokenizer, generative.model

    def classify(question: str) -> str:
        text = generative.prompt.render(clean_question(question, generative.max_chars))
        ids = torch.tensor([tokenizer(text, add_special_tokens=False).input_ids], device=generative.device)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=generative.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        outputs[question] = answer.strip()
        return generative.parse(answer) or ""

    return classify


def sample(examples: list[Example], n: int) -> list[Example]:
    """A fixed random sample, so every run and every method sees the same questions."""
    return random.Random(0).sample(examples, min(n, len(examples)))


def run(ws: Workspace) -> Section:
    section = Section("classification", "1. Classification latency (one question at a time)")
    llm, embedding, codes = ws.llm, ws.embedding, set(ws.taxonomy.codes)
    generative = GenerativeClassifier(llm.model, llm.tokenizer, ws.taxonomy, llm.label_mode, llm.max_chars, 1)
    examples = sample(ws.split.test, ws.sizes.questions)
    generated = examples[: ws.sizes.generated]
    outputs: dict[str, str] = {}
    methods: dict[str, tuple[str, Callable[[str], str], list[Example]]] = {
        "a_cached_prefix": ("(a) code scoring, cached prefix", scorer(llm, True), examples),
        "b_no_prefix_cache": ("(b) code scoring, no prefix cache", scorer(llm, False), generated),
        "c_seed_generate": ("(c) seed: generate 8 tokens + parse", seed_generation(generative, outputs), generated),
        "c_generate_cached_prefix": ("(c') generate + parse, cached prefix", lambda q: generative.classify(q).code,
                                     generated),
        "d_embedding": ("(d) embedding classifier", lambda q: embedding.classify(q).code, examples),
    }
    figures: dict[str, dict] = {}
    latency: dict[str, Latency] = {}
    for key, (label, classify, items) in methods.items():
        ws.say(f"classification {label}: {len(items)} questions")
        latency[key], predicted = timed(classify, [ex.question for ex in items], desc=label)
        invalid = sum(code not in codes for code in predicted)
        correct = sum(code == ex.code for code, ex in zip(predicted, items))
        figures[key] = {**latency[key].as_dict(), "invalid": invalid, "invalid_rate": round(invalid / len(items), 4),
                        "accuracy": round(correct / len(items), 4)}
    # Ratios on the questions every method saw: the first `generated` ones.
    p50 = {key: value.first(len(generated)).p50 for key, value in latency.items()}
    speedup = ratio(p50["c_seed_generate"], p50["a_cached_prefix"])
    fair_speedup = ratio(p50["c_generate_cached_prefix"], p50["a_cached_prefix"])
    section.figures = {
        "model": ws.adapter, "prompt_style": llm.prompt_style, "label_mode": llm.label_mode,
        "prefix_tokens": len(llm.prefix_ids), "generation_prefix_tokens": len(generative.prefix_ids),
        "methods": figures,
        "speedup_a_over_c": speedup, "speedup_a_over_c_cached": fair_speedup,
        "prefix_cache_gain_b_over_a": ratio(p50["b_no_prefix_cache"], p50["a_cached_prefix"]),
        "a_over_d": ratio(p50["a_cached_prefix"], p50["d_embedding"]),
        "sample_outputs_c": dict(list(outputs.items())[:5]),
    }
    target = f"(a) >= {SPEEDUP_TARGET:g}x faster than"
    section.targets = {
        f"{target} (c), the seed's generation": bool(speedup and speedup >= SPEEDUP_TARGET),
        f"{target} (c'), generation with the prefix cached": bool(fair_speedup and fair_speedup >= SPEEDUP_TARGET),
        "(a) has no invalid outputs": figures["a_cached_prefix"]["invalid"] == 0,
    }
    versus = {
        "a_cached_prefix": f"{times(speedup)} faster than (c), {times(fair_speedup)} than (c')",
        "b_no_prefix_cache": f"{times(section.figures['prefix_cache_gain_b_over_a'])} (a)'s time",
        "c_seed_generate": "",
        "c_generate_cached_prefix": "",
        "d_embedding": f"(a) takes {times(section.figures['a_over_d'])} its time",
    }
    for key, (label, _, items) in methods.items():
        f = figures[key]
        section.row(f"{label}: p50 / p95", str(latency[key]), versus[key])
        section.row(f"{label}: accuracy, invalid outputs", f"{f['accuracy']:.0%}, {f['invalid']} of {len(items)}")
    section.notes.append(
        f"SmolLM2-135M ({ws.adapter}), {llm.label_mode} labels; (a)/(b) '{llm.prompt_style}' prompt "
        f"({len(llm.prefix_ids)} prefix tokens), (c)/(c') the full prompt ({len(generative.prefix_ids)}). "
        f"{len(examples)} test-split questions for (a) and (d), the first {len(generated)} of them for the others; "
        "ratios compare p50s over those shared questions."
    )
    return section
