"""What is shown under an answer: the quoted evidence, the unverified facts, and for an abstention the closest records.

Answers and records are text from outside (a generator, a scanned letter, an e-mail): nothing in
them is ever rendered as markdown or HTML, so an image or a link in an answer cannot load anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from chatbot.retrieval import source_name
from chatbot.ui.sources import category_name
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from chatbot.answer import Answer

ACTIVE = re.compile(r"(\\|\$|<|!(?=\[)|\](?=\()|(?<=\w):(?=//))")  # what could load, link or typeset


def plain(text: str) -> str:
    """`text` escaped so st.markdown shows it as written: no image, link, HTML tag or formula comes of it.

    `![x](http://...)` stays those characters; `$` is escaped so two amounts are not typeset as math.
    """
    return ACTIVE.sub(lambda m: "\\" + m[0], text)


def plain_pieces(pieces: Iterable[str]) -> Iterator[str]:
    """The streamed pieces, each escaped (escaping is per character, so a split piece escapes the same)."""
    for piece in pieces:
        yield plain(piece)


def evidence_lines(answer: Answer, taxonomy: Taxonomy) -> list[str]:
    """One markdown line per quoted piece of evidence: `> [n] "quote"` then source, date and category."""
    lines = []
    for item in answer.evidence:
        where = " · ".join(filter(None, [item.source, item.date, category_name(taxonomy, item.category)]))
        lines.append(f"\\[{item.rank}\\] “{plain(item.text)}” — *{plain(where)}*")
    return lines


def closest_lines(answer: Answer, taxonomy: Taxonomy, limit: int = 3) -> list[str]:
    """For an abstention: the records that came closest, so the family can look for themselves."""
    lines = []
    for rank, hit in enumerate(answer.hits[:limit], 1):
        where = " · ".join(filter(None, [source_name(hit), hit.meta.date, category_name(taxonomy, hit.category)]))
        lines.append(f"\\[{rank}\\] {plain(where)}")
    return lines


def unverified_line(answer: Answer) -> str | None:
    if not answer.unverified:
        return None
    return "Unverified (in none of the records found): " + ", ".join(plain(t) for t in answer.unverified)
