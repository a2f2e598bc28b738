"""The Sources expander's rows and caption, from a real Retrieval of real Hits."""

from __future__ import annotations

from pathlib import Path

from chatbot.retrieval import Retrieval
from chatbot.ui.sources import EXCERPT_CHARS, path_caption, source_rows
from classifier.prediction import Prediction
from tests.hits import hit


def retrieval(taxonomy, corpus: Path, path: str, codes: list[str] | None) -> Retrieval:
    pool = taxonomy.find("pool").code
    prediction = Prediction.from_scores([1.0 if c == pool else 0.0 for c in taxonomy.codes], taxonomy)
    hits = [
        hit("a#0", "Pump   replaced\non 2025-05-12.", str(corpus / "pool" / "pump.md"), pool, 0.31234, date="2025-05-12"),
        hit("b#2", "x" * (EXCERPT_CHARS + 50), "/elsewhere/mail.eml#bill.csv", "QQ", 0.9),
    ]
    return Retrieval("when was the pump replaced?", prediction, path, codes, hits)


def test_rows_show_short_source_date_category_name_and_distance(taxonomy, tmp_path: Path) -> None:
    rows = source_rows(retrieval(taxonomy, tmp_path, "filtered", [taxonomy.find("pool").code]), taxonomy, tmp_path)
    first, second = rows
    assert first == {"#": 1, "source": "pool/pump.md", "date": "2025-05-12", "category": "pool", "distance": 0.312,
                     "excerpt": "Pump replaced on 2025-05-12."}
    assert second["source"] == "/elsewhere/mail.eml#bill.csv"  # outside the corpus: shown in full
    assert second["category"] == "QQ"  # a code no longer in the taxonomy is shown, not dropped
    assert len(second["excerpt"]) == EXCERPT_CHARS and second["excerpt"].endswith("…")


def test_caption_names_the_path_and_its_categories(taxonomy, tmp_path: Path) -> None:
    codes = [taxonomy.find("pool").code, taxonomy.find("fountain").code]
    assert path_caption(retrieval(taxonomy, tmp_path, "widened-2", codes), taxonomy) == (
        "Retrieval path: widened-2 (pool, fountain)"
    )
    assert path_caption(retrieval(taxonomy, tmp_path, "unfiltered", None), taxonomy) == (
        "Retrieval path: unfiltered (all categories)"
    )
