"""The "Sources" expander: which records the answer was drawn from, and how they were found."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from chatbot.retrieval import Retrieval

EXCERPT_CHARS = 240


def category_name(taxonomy: Taxonomy, code: str) -> str:
    """The name for a stored code; an unknown code (taxonomy changed since ingest) is shown as is."""
    category = taxonomy.find(code) if code else None
    return category.name if category else code


def short_source(source: str, root: Path) -> str:
    """Stored sources are absolute paths; under the corpus folder the relative path is what people recognise."""
    try:
        return Path(source).relative_to(root.resolve()).as_posix()
    except ValueError:
        return source


def path_caption(retrieval: "Retrieval", taxonomy: Taxonomy) -> str:
    """One line saying which search ran: the path name and the categories it was limited to."""
    if not retrieval.codes:
        return f"Retrieval path: {retrieval.path} (all categories)"
    names = ", ".join(category_name(taxonomy, code) for code in retrieval.codes)
    return f"Retrieval path: {retrieval.path} ({names})"


def source_rows(retrieval: "Retrieval", taxonomy: Taxonomy, root: Path) -> list[dict[str, Any]]:
    """One table row per retrieved chunk, best first; sources shown relative to `root` (the corpus folder)."""
    rows = []
    for rank, hit in enumerate(retrieval.hits, 1):
        text = " ".join(hit.text.split())
        rows.append(
            {
                "#": rank,
                "source": short_source(hit.source, root),
                "date": hit.meta.date,
                "category": category_name(taxonomy, hit.category),
                "distance": round(hit.distance, 3),
                "excerpt": text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…",
            }
        )
    return rows
