"""The coloured category pill shown on every question: the category a question was filed under."""

from __future__ import annotations

from html import escape

from household.taxonomy import Category

REMEMBERED = "as you corrected earlier"  # the words the pill and the terminal use for an earlier correction


def text_color(background: str) -> str:
    """Black or white, whichever reads better on `background` (#rrggbb), so yellow pills stay legible."""
    hex_digits = background.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(d * 2 for d in hex_digits)
    try:
        r, g, b = (int(hex_digits[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#ffffff"
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def category_tag(
    category: Category, confidence: float | None, predicted: Category | None = None, carried: bool = False,
    remembered: bool = False,
) -> str:
    """HTML for the pill; hover shows the confidence, who corrected it when `predicted` differs, that the
    category was carried over from the previous question (a follow-up such as "who did it?"), or, when
    `remembered`, that an earlier correction of a near-identical question decided it. That last case is
    also marked inside the pill, so the family sees without hovering that their correction took effect.

    The class `category-tag` and `data-code` give browser tests and stylesheets a stable handle.
    """
    note = ""
    if predicted is not None and predicted.code != category.code:
        title = f"corrected by you (the classifier said {predicted.name})"
    elif carried:
        title = "from your previous question"
    elif remembered:
        title = REMEMBERED if confidence is None else f"{REMEMBERED} (match {confidence:.0%})"
        note = f'<span class="category-tag-note" style="font-weight:400"> ✓ {REMEMBERED}</span>'
    elif confidence is not None:
        title = f"confidence {confidence:.0%}"
    else:
        title = "category"
    style = (
        f"background:{category.color};color:{text_color(category.color)};padding:0.1rem 0.6rem;"
        "border-radius:999px;font-size:0.8rem;font-weight:600;white-space:nowrap"
    )
    return (
        f'<span class="category-tag" data-code="{escape(category.code)}" title="{escape(title)}" '
        f'style="{style}">{escape(category.name)}{note}</span>'
    )
