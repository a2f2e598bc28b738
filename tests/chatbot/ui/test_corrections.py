"""The feedback page's table rows and its download: the store's own JSONL export, by category name."""

from __future__ import annotations

import json

from storage.feedback import FeedbackStore
from chatbot.ui.corrections import correction_rows, export_text


def test_rows_and_export_name_categories(settings, taxonomy) -> None:
    store = FeedbackStore(settings.feedback_db)
    pool, fountain, car = (taxonomy.find(n).code for n in ("pool", "fountain", "car"))
    store.add("fountain pump warranty?", pool, fountain, "v0002")
    store.add("fountain pump warranty?", pool, car, "v0002")  # corrected twice: the export keeps the latest
    rows = correction_rows(store.list(), taxonomy)
    assert [(r["predicted"], r["corrected"], r["model"]) for r in rows] == [("pool", "fountain", "v0002"),
                                                                            ("pool", "car", "v0002")]
    [line] = export_text(store, taxonomy).splitlines()
    row = json.loads(line)
    assert (row["question"], row["category"], row["predicted"]) == ("fountain pump warranty?", "car", "pool")


def test_export_of_an_empty_store_is_empty(settings, taxonomy) -> None:
    assert export_text(FeedbackStore(settings.feedback_db), taxonomy) == ""
