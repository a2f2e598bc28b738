"""Training the reader's evidence ranker from households whose questions have known answers (`household train-reader`).

Each training set is a corpus folder with its QA file(s) and its unanswerable questions. Every
question is asked through the product's retrieval (the same classifier, store and widening the
chat uses); the units of the retrieved records are its candidates, and a unit is a positive when,
quoted alone, it holds every `answer_contains` string. A softmax over each question's units plus
"nothing here" learns the features' weights (chatbot/ranker.py); then the abstention threshold and how close a second quoted unit must
be are chosen by reading every training question as the reader will, maximising answer accuracy plus
abstention on the unanswerable questions. The held-out household (data/eval/) is never a training set.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chatbot.answer_evaluation import is_correct, load_unanswerable
from chatbot.evaluation import evaluated_assistant, load_qa
from chatbot.ranker import FEATURES, RankerModel, VectorCache, features
from chatbot.reader import Pick, Reading, Unit, choose, units
from household.errors import InputError
from household.settings import REPO_ROOT

if TYPE_CHECKING:
    from chatbot.assistant import Assistant
    from household.settings import Settings
    from household.taxonomy import Taxonomy

SECOND_WITHIN = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # in score (log-odds) units
REGULARISATION = 0.01  # L2 on the standardised features' weights, per question


@dataclass(frozen=True)
class TrainingSet:
    """A household to learn from: its records, the questions they answer, and questions they cannot."""

    corpus: Path
    qa_files: tuple[Path, ...]
    unanswerable: Path | None = None

    @classmethod
    def folder(cls, corpus: Path) -> TrainingSet:
        """The set a household folder holds by convention: qa.jsonl, time-questions.jsonl, unanswerable.jsonl."""
        qa = tuple(p for p in (corpus / "qa.jsonl", corpus / "time-questions.jsonl") if p.exists())
        if not qa:
            raise InputError(f"{corpus} holds no qa.jsonl")
        unanswerable = corpus / "unanswerable.jsonl"
        return cls(corpus, qa, unanswerable if unanswerable.exists() else None)


@dataclass(frozen=True)
class Example:
    """One training question: its candidate units, their features, and what a right answer holds."""

    question: str
    candidates: list[Unit]
    rows: np.ndarray
    expected: list[str]  # empty: the records cannot answer it
    today: date | None = None  # what the question's "last" and "next" mean

    def labels(self) -> np.ndarray:
        return np.array([is_correct(Reading([Pick(u, 1.0)], 1.0).text(), self.expected) for u in self.candidates])


def development_households(data: Path) -> list[Path]:
    """The households a checkout trains the reader on: the sample one and every folder under data/train/.

    The held-out household (data/eval/household) is not among them: it only ever measures the reader.
    """
    return [data / "household", *sorted(p for p in (data / "train").glob("*") if p.is_dir())]


def collect(assistant: Assistant, training: TrainingSet, progress: bool = False) -> list[Example]:
    """Ask every question of one set through `assistant`'s retrieval; its units and their features."""
    from tqdm import tqdm

    embed = VectorCache(assistant.embedder)
    asked: list[tuple[str, list[str], date | None]] = []
    for path in training.qa_files:
        asked += [(qa.question, qa.answer_contains, qa.today) for qa in load_qa(path, assistant.taxonomy)]
    if training.unanswerable:
        asked += [(row.question, [], row.today) for row in load_unanswerable(training.unanswerable) if not row.earlier]
    examples = []
    for question, expected, today in tqdm(asked, desc=training.corpus.name, unit="q", disable=not progress):
        candidates = units(assistant.retrieve(question, today=today).hits)
        if not candidates:
            continue
        examples.append(Example(question, candidates, features(question, candidates, embed, today), expected, today))
    return examples


def fit(examples: Sequence[Example], trained_on: dict | None = None) -> RankerModel:
    """Weights that put a right unit first, threshold and second_within that read the training questions best."""
    usable = [(e.rows, e.labels()) for e in examples if e.expected]
    usable = [(x, y) for x, y in usable if y.any()] + [(e.rows, np.zeros(len(e.rows), bool)) for e in examples
                                                        if not e.expected]
    if not any(y.any() for _, y in usable):
        raise InputError("no training question has a candidate unit that holds its answer")
    x = np.vstack([rows for rows, _ in usable])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    weights, bias = _listwise([((rows - mean) / scale, y) for rows, y in usable])
    draft = RankerModel(FEATURES, tuple(mean), tuple(scale), tuple(weights), bias, 0.0, 0.0)
    score_, model = max(_settings(draft, examples), key=lambda item: (item[0], item[1].threshold))
    positives = int(sum(y.sum() for _, y in usable))
    return RankerModel(model.features, model.mean, model.scale, model.weights, model.bias, model.threshold,
                       model.second_within, {**(trained_on or {}), "examples": len(examples), "candidates": len(x),
                                             "positives": positives, "accuracy_plus_abstention": round(score_, 4)})


def _listwise(questions: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, float]:
    """A softmax over each question's candidates plus "nothing here" (score 0): the right units for an answerable
    question, "nothing" for an unanswerable one. So a unit's score is comparable across questions and the
    reader can abstain when none clears zero."""
    import torch

    w = torch.zeros(questions[0][0].shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    data = [(torch.from_numpy(x), torch.from_numpy(np.append(y, not y.any()))) for x, y in questions]
    optimiser = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        total = REGULARISATION * (w @ w)
        for x, target in data:
            logits = torch.cat([x @ w + b, torch.zeros(1, dtype=torch.float64)])
            total = total - torch.logsumexp(logits[target], 0) + torch.logsumexp(logits, 0)
        total = total / len(data)
        total.backward()
        return total

    optimiser.step(loss)
    return w.detach().numpy(), float(b.detach())


def _settings(draft: RankerModel, examples: Sequence[Example]) -> list[tuple[float, RankerModel]]:
    """Every (threshold, second_within) on the grid with accuracy + abstention over `examples`."""
    scores = [draft.scores(e.rows) for e in examples]
    bests = sorted({float(p.max()) for p in scores})
    thresholds = [-np.inf] + [(a + b) / 2 for a, b in itertools.pairwise(bests)][:: max(1, len(bests) // 200)]
    out = []
    for threshold, within in itertools.product(thresholds, SECOND_WITHIN):
        model = RankerModel(draft.features, draft.mean, draft.scale, draft.weights, draft.bias, threshold, within)
        out.append((sum(score(model, examples, scores)), model))
    return out


def score(model: RankerModel, examples: Sequence[Example], scores: list[np.ndarray] | None = None
          ) -> tuple[float, float]:
    """(answer accuracy, abstention on the unanswerable) of `model` reading `examples` as the reader does."""
    scores = scores or [model.scores(e.rows) for e in examples]
    right, abstained, answerable, unanswerable = 0, 0, 0, 0
    for example, unit_scores in zip(examples, scores, strict=True):
        reading = choose(example.candidates, unit_scores, model)
        if example.expected:
            answerable += 1
            right += is_correct(reading.text(), example.expected)
        else:
            unanswerable += 1
            abstained += reading.abstained
    return right / (answerable or 1), abstained / (unanswerable or 1)


def train_reader(settings: Settings, taxonomy: Taxonomy, sets: Sequence[TrainingSet], progress: bool = False
                 ) -> tuple[RankerModel, list[Example]]:
    """Ingest each set's corpus into a temporary store, collect its examples, fit the ranker on all of them."""
    examples: list[Example] = []
    for training in sets:
        with tempfile.TemporaryDirectory(prefix="household-reader-") as tmp:
            examples += collect(evaluated_assistant(settings, taxonomy, training.corpus, Path(tmp)), training, progress)
    trained_on = {"sets": [_portable(t.corpus) for t in sets], "embedding_model": settings.embedding_model}
    return fit(examples, trained_on), examples


def _portable(folder: Path) -> str:
    """A training folder as the model records it: relative to the checkout when inside it, so the packaged
    model names no one machine's paths."""
    try:
        return folder.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(folder)
