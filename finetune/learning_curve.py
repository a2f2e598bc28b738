"""A training recipe's learning curve: accuracy on questions it never saw as its training data grows.

When a classifier stalls below a target, the curve says which way out there is: if accuracy still
climbs between the last fractions, more labelled questions of the same kind would help; if it is
flat, the limit is the model (or how unlike the training writers the test writers are), not the
amount of data. Each point trains the recipe afresh on whole paraphrase groups drawn at random, a
few times over (seeds), exactly as `household finetune` trains it on the full training split.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from classifier.dataset import Example
from household.errors import InputError

if TYPE_CHECKING:
    from classifier.prediction import Classifier
    from finetune.trainer import FinetuneConfig
    from household.settings import Settings
    from household.taxonomy import Taxonomy

FRACTIONS = (0.125, 0.25, 0.5, 0.75, 1.0)
RECIPES = ("embedding", "llm")

Recipe = Callable[[list[Example]], "Classifier"]  # training examples -> a trained classifier


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    examples: int  # training examples, mean over the seeds
    accuracy: float  # on the test questions, mean over the seeds
    low: float  # the worst and best seed: how much of a step is the draw, not the data
    high: float


def subsample(examples: Sequence[Example], fraction: float, seed: int) -> list[Example]:
    """About `fraction` of the paraphrase groups, drawn at random with `seed`, each group whole (a group's
    rewordings together in training, as in the split, so a point is not flattered by near-copies)."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.group_id].append(example)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    return [example for key in keys[: max(1, round(fraction * len(keys)))] for example in groups[key]]


def learning_curve(recipe: Recipe, training: Sequence[Example], test: Sequence[Example],
                   fractions: Sequence[float] = FRACTIONS, seeds: int = 3, progress: bool = False) -> list[CurvePoint]:
    """Train `recipe` on growing fractions of `training` and measure each on `test` (the full set: one draw)."""
    from tqdm import tqdm

    if not training or not test:
        raise InputError("a learning curve needs training and test questions")
    if any(not 0 < f <= 1 for f in fractions):
        raise InputError("fractions must be in (0, 1]")
    runs = [(f, seed) for f in fractions for seed in range(1 if f == 1 else seeds)]
    results: dict[float, list[tuple[int, float]]] = defaultdict(list)
    for fraction, seed in tqdm(runs, desc="learning curve", unit="run", disable=not progress):
        chosen = subsample(training, fraction, seed)
        classifier = recipe(chosen)
        predictions = classifier.classify_many([example.question for example in test])
        right = np.mean([p.code == example.code for p, example in zip(predictions, test, strict=True)])
        results[fraction].append((len(chosen), float(right)))
    return [CurvePoint(f, round(float(np.mean([n for n, _ in runs_]))), float(np.mean([a for _, a in runs_])),
                       min(a for _, a in runs_), max(a for _, a in runs_)) for f, runs_ in results.items()]


def recipe(name: str, settings: Settings, taxonomy: Taxonomy, val: Sequence[Example],
           config: FinetuneConfig | None = None) -> Recipe:
    """How `household finetune` trains the `embedding` head or the `llm` (LoRA codes on the configured base)."""
    if name == "embedding":
        from classifier.embedding import EmbeddingClassifier
        from household.models import load_embedder

        embedder = load_embedder(settings.embedding_model)
        return lambda examples: EmbeddingClassifier.train(embedder, taxonomy, examples,
                                                          max_chars=settings.max_question_chars)
    if name == "llm":
        from classifier.llm import LLMClassifier
        from finetune.trainer import FinetuneConfig, train

        given = config or FinetuneConfig()
        chosen = replace(given, base_model=given.base_model or settings.classifier_model)

        def lora(examples: list[Example]) -> Classifier:
            llm = LLMClassifier.load(chosen.base_model, settings, taxonomy, None, chosen.label_mode, chosen.prompt_style)
            train(llm, examples, list(val), chosen, progress=False)
            return llm

        return lora
    raise InputError(f"unknown recipe {name!r}: choose one of {', '.join(RECIPES)}")


def measure(settings: Settings, taxonomy: Taxonomy, name: str = "embedding", questions: Path | None = None,
            heldout: str | None = None, fractions: Sequence[float] = FRACTIONS, seeds: int = 3,
            config: FinetuneConfig | None = None, progress: bool = False) -> list[CurvePoint]:
    """`household learning-curve`: the recipe trained on fractions of the fine-tune's training split (dataset,
    extra questions, scope phrases, corrections), measured on `measured_questions` (default: the test split)."""
    from finetune.data import assemble
    from finetune.scenarios import measured_questions

    data = assemble(settings, taxonomy)
    trained = recipe(name, settings, taxonomy, data.split.val, config)
    return learning_curve(trained, data.split.train, measured_questions(settings, taxonomy, questions, heldout),
                          fractions, seeds, progress)
