from pathlib import Path

import pytest

from classifier.dataset import load_examples, split
from classifier.embedding import EmbeddingClassifier, ZeroShotRouter
from household.errors import ModelNotFoundError
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


def test_a_saved_head_reloads_identically_and_refuses_another_taxonomy(
    embedder, taxonomy: Taxonomy, parts, tmp_path: Path
) -> None:
    first = EmbeddingClassifier.train(embedder, taxonomy, parts.train[:200])
    first.save(tmp_path / "head.npz")
    second = EmbeddingClassifier.load(tmp_path / "head.npz", embedder, taxonomy)
    questions = [ex.question for ex in parts.val[:20]]
    assert [p.scores for p in first.classify_many(questions)] == [p.scores for p in second.classify_many(questions)]
    fewer = Taxonomy(list(taxonomy)[:-1])
    with pytest.raises(ModelNotFoundError, match="another taxonomy"):
        EmbeddingClassifier.load(tmp_path / "head.npz", embedder, fewer)


def test_the_default_head_trains_once_and_loading_never_reads_the_dataset(settings, taxonomy, embedder,
                                                                          monkeypatch) -> None:
    from classifier import dataset
    from classifier.registry import default_head_path, load_version

    first = load_version(settings, taxonomy, None, "embedding", embedder)
    assert first.version == "default" and default_head_path(settings, taxonomy).exists()
    monkeypatch.setattr(dataset, "load_examples", lambda *a, **k: pytest.fail("the dataset was parsed"))
    again = load_version(settings, taxonomy, None, "embedding", embedder)
    assert again.classify("pool pump is loud").scores == first.classify("pool pump is loud").scores


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
