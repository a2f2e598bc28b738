"""A chunk about two things carries both categories, and a filter on either finds it: embedded and server mode."""

from __future__ import annotations

import pytest

from chatbot.retrieval import Retriever
from household.settings import Settings
from storage.chunk import ChunkMeta, category_filter
from storage.store import FileChunks, Store

PANEL = "Breaker 14 (double pole, 20 A): pool pump and pool light. Breaker 9: kitchen outlets."
OTHERS = {  # file: (category, text)
    "fence.md": ("fence", "The cedar fence boards on the north side were replaced in May."),
    "oven.md": ("appliances", "The oven igniter was replaced by the appliance technician."),
}


def meta(source: str, category: str, *also: str) -> ChunkMeta:
    return ChunkMeta(
        source=source, file=source, format="md", content_hash="0" * 64, chunk_index=0, file_chunks=1,
        category=category, category_confidence=0.9, category_origin="classifier",
        ingested_at="2025-01-01T00:00:00+00:00", categories=(category, *also),
    )


def write(store: Store, code) -> None:
    """The panel map filed under electric and pool, two single-category records beside it."""
    rows = [("/h/panel.md", PANEL, meta("/h/panel.md", code("electric"), code("pool")))]
    rows += [(f"/h/{name}", text, meta(f"/h/{name}", code(category))) for name, (category, text) in OTHERS.items()]
    files = [FileChunks(source, [], [source], [text], [m], store.embed([text])) for source, text, m in rows]
    store.write_files(files)


@pytest.fixture
def code(taxonomy):
    return lambda name: taxonomy.find(name).code


@pytest.fixture(scope="module")
def router(embedder, taxonomy):
    """A real classifier for the Retriever; the tests pass codes, so its answers do not matter."""
    from classifier.embedding import ZeroShotRouter

    return ZeroShotRouter(embedder, taxonomy)


def test_categories_survive_the_round_trip_with_the_primary_first(code) -> None:
    stored = meta("/h/panel.md", code("electric"), code("pool"))
    raw = stored.to_chroma()
    assert raw[f"cat_{code('electric')}"] is True and raw[f"cat_{code('pool')}"] is True
    assert ChunkMeta.from_chroma(raw) == stored
    assert meta("/h/x.md", code("pool")).categories == (code("pool"),)
    assert meta("/h/x.md", code("pool"), code("electric"), code("pool")).categories == (code("pool"), code("electric"))
    assert category_filter([code("pool")]) == {f"cat_{code('pool')}": True}
    assert set(category_filter([code("pool"), code("fence")])) == {"$or"}


def found(store: Store, router, codes: list[str]) -> tuple[list[str], list[str]]:
    """Sources found by the vector search alone and by the product's hybrid search, within `codes`."""
    dense = [h.source for h in store.search("which breaker is the pool pump on?", 3, codes)]
    hybrid = [h.source for h in Retriever(store.settings, store, router).search("which breaker is the pool pump on?", 3, codes)]
    return dense, hybrid


def check(store: Store, router, code) -> None:
    for name in ("electric", "pool"):
        dense, hybrid = found(store, router, [code(name)])
        assert dense == ["/h/panel.md"] and hybrid == ["/h/panel.md"], name
    dense, _ = found(store, router, [code("fence"), code("pool")])
    assert sorted(dense) == ["/h/fence.md", "/h/panel.md"]
    assert found(store, router, [code("car")]) == ([], [])
    (panel,) = [h for h in store.search("breaker", 3) if h.source == "/h/panel.md"]
    assert panel.category == code("electric") and panel.meta.categories == (code("electric"), code("pool"))


def test_a_two_category_chunk_is_found_under_either_filter_embedded(settings: Settings, embedder, router, code) -> None:
    store = Store(settings, embedder)
    write(store, code)
    check(store, router, code)


def test_a_two_category_chunk_is_found_under_either_filter_on_a_server(
    chroma_server, settings: Settings, embedder, router, code
) -> None:
    store = Store(settings.replace(chroma_url=chroma_server), embedder)
    write(store, code)
    check(store, router, code)
    assert not settings.store_dir.exists()
