"""The learning curve: whole paraphrase groups per draw, one fresh training per point, real recipes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from classifier.dataset import Example, load_examples, split
from cli.main import main
from finetune.learning_curve import learning_curve, measure, recipe, subsample
from household.errors import InputError


def _examples(groups: int, per_group: int = 3) -> list[Example]:
    return [Example(f"question {g}.{i}", "OO" if g % 2 else "VU", f"g{g}") for g in range(groups) for i in range(per_group)]


def test_a_draw_takes_whole_groups_and_grows_with_the_fraction():
    examples = _examples(16)
    quarter, half = subsample(examples, 0.25, seed=0), subsample(examples, 0.5, seed=0)
    assert len(quarter) == 4 * 3 and len(half) == 8 * 3
    assert all(sum(e.group_id == g for e in quarter) == 3 for g in {e.group_id for e in quarter})
    assert subsample(examples, 0.25, seed=1) != quarter  # another seed, another draw
    assert sorted(subsample(examples, 1.0, seed=5), key=lambda e: e.question) == sorted(examples, key=lambda e: e.question)


class _Memorizer:
    """Knows a question's code only if it saw the question in training: accuracy = share of the test seen."""

    def __init__(self, seen: list[Example]) -> None:
        self.seen = {e.question: e.code for e in seen}

    def classify_many(self, questions):
        return [SimpleNamespace(code=self.seen.get(q, "")) for q in questions]


def test_each_point_trains_afresh_and_averages_its_seeds():
    examples = _examples(16)
    sizes: list[int] = []

    def memorising(chosen):
        sizes.append(len(chosen))
        return _Memorizer(chosen)

    points = learning_curve(memorising, examples, examples, fractions=(0.25, 1.0), seeds=2)
    assert sizes == [12, 12, 48]  # two draws at 25%, one at 100% (there is only one full set)
    assert [p.examples for p in points] == [12, 48]
    assert points[0].accuracy == pytest.approx(0.25) and points[1].accuracy == 1.0
    assert points[0].low <= points[0].accuracy <= points[0].high
    with pytest.raises(InputError):
        learning_curve(memorising, examples, [], fractions=(0.5,))
    with pytest.raises(InputError):
        learning_curve(memorising, examples, examples, fractions=(0.0,))


def test_the_head_learns_more_from_more_questions(settings, taxonomy, embedder, small_questions, monkeypatch):
    monkeypatch.setattr("household.models.load_embedder", lambda spec: embedder)
    parts = split(load_examples(small_questions, taxonomy))
    points = learning_curve(recipe("embedding", settings, taxonomy, parts.val), parts.train, parts.test,
                            fractions=(0.125, 1.0), seeds=2)
    assert points[0].examples < points[1].examples == len(parts.train)
    assert points[1].accuracy > points[0].accuracy + 0.1  # a real MiniLM head: 1/8 of the groups is far too few


@pytest.mark.slow
def test_the_lora_recipe_trains_the_configured_base_per_point(tiny_settings, taxonomy, quick_config):
    points = measure(tiny_settings, taxonomy, "llm", fractions=(0.5, 1.0), seeds=1, config=quick_config)
    assert [p.fraction for p in points] == [0.5, 1.0]
    assert points[0].examples < points[1].examples
    assert all(0.0 <= p.accuracy <= 1.0 for p in points)


def test_the_command_prints_the_curve(tiny_settings, embedder, monkeypatch):
    monkeypatch.setattr("household.models.load_embedder", lambda spec: embedder)
    result = CliRunner().invoke(main, ["learning-curve", "--seeds", "1", "--json"])
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)
    assert [p["fraction"] for p in points] == [0.125, 0.25, 0.5, 0.75, 1.0]
    assert points[-1]["examples"] > points[0]["examples"]
    bad = CliRunner().invoke(main, ["learning-curve", "--model", "gpt"])
    assert bad.exit_code == 2 and "gpt" in bad.output
