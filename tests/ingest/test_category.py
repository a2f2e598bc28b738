from __future__ import annotations

from pathlib import Path

import pytest

from household.errors import InputError
from ingest.category import Assignment, CategoryAssigner
from ingest.document import Document, Record


@pytest.fixture
def assigner(settings, taxonomy, router) -> CategoryAssigner:
    return CategoryAssigner(settings, taxonomy, classifier=router)


def code(taxonomy, name: str) -> str:
    return taxonomy.by_name(name).code


def test_the_flag_beats_everything(settings, taxonomy, router):
    forced = CategoryAssigner(settings, taxonomy, "garden-lights", classifier=router)
    expected = Assignment(code(taxonomy, "garden lights"), 1.0, "flag")
    assert forced.before_reading(Path("records/pool/a.md"), Path("records")) == expected


def test_the_nearest_category_folder_wins_with_dashes_or_underscores(assigner, taxonomy):
    root = Path("records")
    assert assigner.before_reading(root / "pool" / "water_heater" / "a.md", root).code == code(taxonomy, "water heater")
    assert assigner.before_reading(root / "Garden-Lights" / "x" / "a.md", root).origin == "folder"
    assert assigner.before_reading(root / "notes" / "a.md", root) is None


def test_the_folder_given_on_the_command_line_counts_too(assigner, taxonomy, tmp_path):
    (tmp_path / "tree_service").mkdir()
    folder = tmp_path / "tree_service"
    assert assigner.before_reading(folder / "a.md", folder).code == code(taxonomy, "tree service")
    single = tmp_path / "tree_service" / "a.md"
    single.write_text("x")
    assert assigner.before_reading(single, single).code == code(taxonomy, "tree service")


def test_a_folder_named_like_a_code_is_not_a_category(assigner, taxonomy):
    pool_code = code(taxonomy, "pool").lower()
    assert assigner.before_reading(Path("r") / pool_code / "a.md", Path("r")) is None


def test_front_matter_takes_a_name_or_a_code_and_ignores_unknown_values(assigner, taxonomy):
    assert assigner.from_document(Document("a.md", "md", category="Tree Service")).origin == "front-matter"
    fence = code(taxonomy, "fence")
    assert assigner.from_document(Document("a.md", "md", category=fence)).code == fence
    assert assigner.from_document(Document("a.md", "md", category="basement")) is None
    assert assigner.from_document(Document("a.md", "md")) is None


def test_a_record_field_takes_its_first_known_value_and_warns_once_about_unknown_ones(assigner, taxonomy, caplog):
    pool = Assignment(code(taxonomy, "pool"), 1.0, "record")
    assert assigner.from_record(Record("x", True, category="Maintenance, Pool"), "cal.ics") == pool
    assert assigner.from_record(Record("x", True), "cal.ics") is None
    for _ in range(3):
        assert assigner.from_record(Record("x", True, category="Maintenance"), "cal.ics") is None
    assert [r.getMessage() for r in caplog.records] == [
        "cal.ics: category 'Maintenance' is not in the taxonomy; the classifier decides"
    ]


def test_the_classifier_assigns_per_text_with_its_confidence(assigner, taxonomy):
    guesses = assigner.classify(
        ["Chlorine tabs and a new cartridge for the swimming pool filter", "Oil change and new tires for the car"]
    )
    assert [g.code for g in guesses] == [code(taxonomy, "pool"), code(taxonomy, "car")]
    assert all(g.origin == "classifier" and 0 < g.confidence < 1 for g in guesses)


def test_an_unknown_flag_is_an_input_error(settings, taxonomy):
    with pytest.raises(InputError, match="unknown category 'basement'"):
        CategoryAssigner(settings, taxonomy, "basement")
