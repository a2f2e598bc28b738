"""The feedback page's data: corrections as table rows, and the JSONL export for the finetune module."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.ui.sources import category_name
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from storage.feedback import Correction, FeedbackStore


def correction_rows(corrections: "list[Correction]", taxonomy: Taxonomy) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "when": c.created_at,
            "question": c.question,
            "predicted": category_name(taxonomy, c.predicted_code),
            "corrected": category_name(taxonomy, c.corrected_code),
            "model": c.model_version,
        }
        for c in corrections
    ]


def export_text(store: "FeedbackStore", taxonomy: Taxonomy) -> str:
    """The JSONL the finetune module reads, produced by the store's own exporter (latest per question)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corrections.jsonl"
        store.export_jsonl(path, taxonomy)
        return path.read_text(encoding="utf-8")
