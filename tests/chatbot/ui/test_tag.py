"""The category pill: a stable handle for tests, the confidence on hover, legible colours."""

from __future__ import annotations

import re

from chatbot.ui.tag import category_tag, text_color
from household.taxonomy import Category


def test_tag_carries_code_name_colour_and_confidence(taxonomy) -> None:
    category = taxonomy.categories[0]
    html = category_tag(category, 0.973)
    assert re.search(rf'class="category-tag" data-code="{category.code}"', html)
    assert 'title="confidence 97%"' in html
    assert f"background:{category.color}" in html
    assert html.endswith(f">{category.name}</span>")


def test_corrected_tag_says_what_the_classifier_thought(taxonomy) -> None:
    predicted, corrected = taxonomy.categories[0], taxonomy.categories[1]
    html = category_tag(corrected, None, predicted)
    assert f'data-code="{corrected.code}"' in html
    assert f"the classifier said {predicted.name}" in html
    assert "confidence" not in html


def test_tag_of_an_earlier_correction_says_so_on_hover_and_in_the_pill(taxonomy) -> None:
    category = taxonomy.categories[2]
    html = category_tag(category, 0.91, remembered=True)
    assert f'data-code="{category.code}"' in html
    assert 'title="as you corrected earlier (match 91%)"' in html
    assert re.search(rf">{re.escape(category.name)}<span [^>]*>[^<]*as you corrected earlier</span></span>$", html)
    assert "as you corrected earlier" not in category_tag(category, 0.91)
    carried = category_tag(category, 0.91, carried=True, remembered=True)  # the category shown is the previous turn's
    assert 'title="from your previous question"' in carried and "as you corrected earlier" not in carried


def test_tag_escapes_names_from_the_taxonomy_file() -> None:
    html = category_tag(Category(name='<b>"odd"</b>', code="ZZ", scope="", color="#ffffff"), 0.5)
    assert "<b>" not in html and "&lt;b&gt;&quot;odd&quot;&lt;/b&gt;" in html


def test_text_colour_follows_background_brightness() -> None:
    assert text_color("#f1c40f") == "#000000"  # yellow pill, dark text
    assert text_color("#343a40") == "#ffffff"
    assert text_color("#fff") == "#000000"
    assert text_color("not-a-colour") == "#ffffff"
