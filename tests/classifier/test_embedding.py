from pathlib import Path

import pytest

from classifier.dataset import load_examples, split
from classifier.embedding import EmbeddingClassifier, ZeroShotRouter
from household.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def parts(taxonomy: Taxonomy):
    return split(load_examples(REPO / "data" / "questions", taxonomy))


def accuracy(classifier, examples) -> float:
    predictions = classifier.classify_many([ex.question for ex in examples])
    return sum(p.code == ex.code for p, ex in zip(predictions, examples)) / len(examples)


def test_embedding_head_beats_chance_on_held_out_split(embedder, taxonomy: Taxonomy, parts) -> None:
    classifier = EmbeddingClassifier.train(embedder, taxonomy, parts.train)
    chance = 1 / len(taxonomy)
    assert accuracy(classifier, parts.test) > 10 * chance


def test_cached_head_reloads_identically(embedder, taxonomy: Taxonomy, parts, tmp_path: Path) -> None:
    first = EmbeddingClassifier.cached(embedder, taxonomy, parts.train[:200], tmp_path, "minilm")
    assert len(list((tmp_path / "heads").glob("*.npz"))) == 1
    second = EmbeddingClassifier.cached(embedder, taxonomy, parts.train[:200], tmp_path, "minilm")
    questions = [ex.question for ex in parts.val[:20]]
    assert [p.code for p in first.classify_many(questions)] == [p.code for p in second.classify_many(questions)]


def test_zero_shot_router_beats_chance(embedder, taxonomy: Taxonomy, parts) -> None:
    assert accuracy(ZeroShotRouter(embedder, taxonomy), parts.test) > 5 / len(taxonomy)


def test_classify_cli_json_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(main, ["classify", "--model", "embedding", "--json", "when did we last backwash the pool filter"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["category"] == "pool" and len(payload["top"]) == 3
    empty = CliRunner().invoke(main, ["classify", "   "])
    assert empty.exit_code == 1 and "Error: the question is empty" in empty.output
