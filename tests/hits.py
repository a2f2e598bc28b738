"""Hits for tests that exercise what is done with search results, not the search itself."""

from __future__ import annotations

from storage.chunk import ChunkMeta
from storage.store import Hit


def hit(id: str, text: str, source: str, category: str, distance: float, **meta) -> Hit:
    """A Hit whose metadata is what the pipeline would write, with `meta` overriding fields (title, date...)."""
    fields = dict(
        source=source, file=source.split("#")[0], format=source.rsplit(".", 1)[-1], content_hash="0" * 64,
        chunk_index=0, file_chunks=1, category=category, category_confidence=1.0, category_origin="flag",
        ingested_at="2025-01-01T00:00:00+00:00",
    )
    return Hit(id, text, distance, ChunkMeta(**{**fields, **meta}))
