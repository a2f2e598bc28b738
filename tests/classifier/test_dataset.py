import json
from collections import Counter
from pathlib import Path

import pytest

from classifier.dataset import SPLIT_FRACTIONS, Example, load_examples, read_rows, split
from household.errors import DataError
from household.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def examples(taxonomy: Taxonomy) -> list[Example]:
    return load_examples(REPO / "data" / "questions", taxonomy)


def test_dataset_is_large_valid_and_covers_every_category(examples: list[Example], taxonomy: Taxonomy) -> None:
    counts = Counter(ex.code for ex in examples)
    assert len(examples) >= 900
    assert set(counts) == set(taxonomy.codes)
    assert min(counts.values()) >= 35


def test_split_has_no_group_leakage_and_keeps_strata(examples: list[Example], taxonomy: Taxonomy) -> None:
    parts = split(examples)
    groups = {name: {ex.group_id for ex in parts[name]} for name in SPLIT_FRACTIONS}
    assert not groups["train"] & groups["val"]
    assert not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    assert sum(len(parts[name]) for name in SPLIT_FRACTIONS) == len(examples)
    for code in taxonomy.codes:
        total = sum(ex.code == code for ex in examples)
        for name, fraction in SPLIT_FRACTIONS.items():
            share = sum(ex.code == code for ex in parts[name]) / total
            assert abs(share - fraction) < 0.12, (code, name, share)


def test_split_is_deterministic(examples: list[Example]) -> None:
    assert split(examples).test == split(list(examples)).test
    assert split(examples, seed=1).test != split(examples).test


def write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize(
    "rows, line, message",
    [
        ([{"question": "pool pump?", "category": "pool", "group_id": "g1"}, {"question": "x", "category": "spaceship", "group_id": "g2"}], 2, "unknown category"),
        ([{"question": "   ", "category": "pool", "group_id": "g1"}], 1, "empty or missing question"),
        ([{"question": "Pool pump?", "category": "pool", "group_id": "g1"}, {"question": "pool   PUMP?", "category": "pool", "group_id": "g2"}], 2, "duplicate question"),
        ([{"question": "pool pump?", "category": "pool", "group_id": "g1"}, {"question": "fountain pump?", "category": "fountain", "group_id": "g1"}], 2, "spans categories"),
        (["{not json"], 1, "not valid JSON"),
        ([["a", "list"]], 1, "must be a JSON object"),
        ([{"question": "pool pump?", "category": "pool"}], 1, "missing group_id"),
    ],
)
def test_bad_rows_are_rejected_with_file_and_line(tmp_path: Path, taxonomy: Taxonomy, rows, line, message) -> None:
    path = write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=message) as info:
        load_examples(path, taxonomy)
    assert info.value.line == line and info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_read_rows_reports_every_problem_and_keeps_good_rows(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(
        tmp_path / "mixed.jsonl",
        [
            {"question": "who cleaned the gutters", "category": "gutters", "group_id": "a"},
            {"question": "", "category": "pool", "group_id": "b"},
            {"question": "vet number?", "category": "SA", "group_id": "c"},
            {"question": "x", "category": "nope", "group_id": "d"},
        ],
    )
    good, problems = read_rows([path], taxonomy)
    assert [ex.question for ex in good] == ["who cleaned the gutters", "vet number?"]
    assert [p.line for p in problems] == [2, 4]


def test_data_check_cli_reports_problems(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import main

    bad = write(tmp_path / "bad.jsonl", [{"question": "x", "category": "nope", "group_id": "a"}])
    result = CliRunner().invoke(main, ["data", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1: unknown category 'nope'" in result.output
    ok = CliRunner().invoke(main, ["data", "check"])
    assert ok.exit_code == 0 and "0 problems" in ok.output
