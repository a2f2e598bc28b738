"""Ingest files a classified chunk under every category that scores above `also_category_score`."""

from __future__ import annotations

from pathlib import Path

from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from storage.store import Store

PANEL = "Breaker panel map. Breaker 14, 20 A double pole: the pool pump and the pool light. Breaker 9: kitchen."


def test_a_classified_chunk_carries_every_category_above_the_score(settings, embedder, taxonomy, tmp_path: Path) -> None:
    from classifier.embedding import ZeroShotRouter

    router = ZeroShotRouter(embedder, taxonomy)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "panel.txt").write_text(PANEL + "\n", encoding="utf-8")
    (tmp_path / "notes" / "pool").mkdir()
    (tmp_path / "notes" / "pool" / "labelled.txt").write_text(PANEL + "\n", encoding="utf-8")
    store = Store(settings, embedder)
    [(_, text, _)] = [row for row in _chunks_of(settings, embedder, taxonomy, router, tmp_path) if "labelled" not in row[2].source]
    ranking = router.classify(text[: settings.max_question_chars]).ranking
    floor = ranking[1][1] - 1e-6  # low enough that the runner-up qualifies, whatever the router scores
    settings = settings.replace(also_category_score=floor)
    Pipeline(settings, store, CategoryAssigner(settings, taxonomy, classifier=router)).run([tmp_path / "notes"])
    by_name = {meta.source.rsplit("/", 1)[-1]: meta for _, _, meta in store.chunks()}
    expected = tuple(code for code, score in ranking if score >= floor)
    assert len(expected) >= 2 and by_name["panel.txt"].categories == expected
    assert by_name["panel.txt"].category == ranking[0][0]
    assert by_name["labelled.txt"].categories == (taxonomy.find("pool").code,)  # the user's word stands alone
    second = [h.source for h in store.search("which breaker is the pool pump on?", 3, [expected[1]])]
    assert any(source.endswith("panel.txt") for source in second)


def _chunks_of(settings, embedder, taxonomy, router, root: Path):
    """The chunks the pipeline makes of `root`, in a throw-away store (to read the text the classifier sees)."""
    scratch = Store(settings.replace(data_dir=root / "scratch"), embedder)
    Pipeline(scratch.settings, scratch, CategoryAssigner(settings, taxonomy, classifier=router)).run([root / "notes"])
    return list(scratch.chunks())
