from pathlib import Path

import pytest

from household.errors import DataError
from household.taxonomy import Taxonomy


def test_repo_taxonomy_has_twenty_opaque_codes(taxonomy: Taxonomy) -> None:
    assert len(taxonomy) == 20
    assert len(set(taxonomy.codes)) == 20
    for category in taxonomy:
        # Opaque: the code shares no letter-pair with the name's initials.
        initials = "".join(word[0] for word in category.name.split()).upper()
        assert category.code != initials[:2] and category.scope


def test_lookup_by_code_name_and_variants(taxonomy: Taxonomy) -> None:
    pool = taxonomy.by_name("pool")
    assert taxonomy.find(pool.code) == pool
    assert taxonomy.find("water-heater") == taxonomy.by_name("water heater")
    assert taxonomy.find("nonsense") is None


@pytest.mark.parametrize(
    "body, message",
    [
        ('[[category]]\nname = "a"\ncode = "a1"\nscope = "x"\n', "not two capital letters"),
        ('[[category]]\nname = "a"\ncode = "AA"\nscope = "x"\n[[category]]\nname = "b"\ncode = "AA"\nscope = "y"\n', "defined twice"),
        ('[[category]]\nname = "a"\ncode = "AA"\n', "lacks 'scope'"),
        ("title = 1\n", "no \\[\\[category\\]\\]"),
        ("[[category]\n", "invalid TOML"),
    ],
)
def test_bad_taxonomy_files_are_rejected(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "categories.toml"
    path.write_text(body)
    with pytest.raises(DataError, match=message):
        Taxonomy.load(path)
