"""The metadata of one stored chunk: the one definition, written and read only here.

Chroma keeps metadata as a flat dict of str/int/float/bool; `to_chroma` and `from_chroma` are the
only places that translate, so a renamed field fails loudly instead of silently reading a default.
A chunk's categories are stored as one boolean key per code (`cat_OO: True`), which the pinned
Chroma filters on natively, embedded and on a server alike (`category_filter`).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Mapping, Sequence

from household.errors import ServiceError


@dataclass(frozen=True)
class ChunkMeta:
    """What every chunk carries besides its text and vector.

    `source` is the absolute path of the document (attachments: `/abs/mail.eml#bill.csv`), `file` the
    path on disk; `content_hash` is the sha256 of the file and `file_chunks` the file's chunk count,
    together enough to detect a half-written file. `category` is the primary code (display, counts);
    `category_origin` is flag | folder | front-matter | record | classifier. `title` and `date`
    (YYYY-MM-DD) are empty where the format has none. `categories` is every code the chunk is
    about (the primary first); a category filter matches any of them. `ocr_confidence` (0..1) is the
    lowest OCR confidence of the pages the chunk was read from, NOT_OCR (-1.0: Chroma cannot hold
    None) for text that came as text. `chunking` says how the file was cut (ingest/chunker.py: `stamp`,
    the chunker's version and token budget; empty for chunks stored before it was kept): a file cut
    another way is cut again by the next ingest, though its content is unchanged.
    """

    source: str
    file: str
    format: str
    content_hash: str
    chunk_index: int
    file_chunks: int
    category: str
    category_confidence: float
    category_origin: str
    ingested_at: str
    title: str = ""
    date: str = ""
    categories: tuple[str, ...] = ()
    ocr_confidence: float = -1.0
    chunking: str = ""

    def __post_init__(self) -> None:
        """`categories` always starts with the primary code and names each code once."""
        object.__setattr__(self, "categories", tuple(dict.fromkeys((self.category, *self.categories))))

    def to_chroma(self) -> dict[str, str | int | float | bool]:
        """Chroma's form: empty optional strings are left out (Chroma cannot store None); one key per category."""
        flat = {key: value for key, value in asdict(self).items() if key != "categories"}
        out: dict[str, str | int | float | bool] = {k: v for k, v in flat.items() if v != "" or k not in OPTIONAL}
        out.update({CATEGORY_PREFIX + code: True for code in self.categories})
        return out

    @classmethod
    def from_chroma(cls, raw: Mapping[str, Any]) -> "ChunkMeta":
        missing = [name for name in REQUIRED if name not in raw]
        if missing:
            raise ServiceError(
                f"a stored chunk lacks {', '.join(missing)}: the store was written by another version; "
                "rebuild it with `household ingest --rebuild DIR`"
            )
        prefix = len(CATEGORY_PREFIX)
        categories = tuple(key[prefix:] for key, value in raw.items() if key.startswith(CATEGORY_PREFIX) and value)
        return cls(**{name: raw[name] for name in NAMES if name in raw and name != "categories"}, categories=categories)


def category_filter(codes: Sequence[str]) -> dict[str, Any]:
    """The Chroma `where` matching chunks that carry any of `codes` among their categories."""
    terms: list[dict[str, Any]] = [{CATEGORY_PREFIX + code: True} for code in dict.fromkeys(codes)]
    if not terms:
        raise ValueError("category_filter needs at least one code")
    return terms[0] if len(terms) == 1 else {"$or": terms}


CATEGORY_PREFIX = "cat_"
NAMES = tuple(f.name for f in fields(ChunkMeta))
OPTIONAL = frozenset(f.name for f in fields(ChunkMeta) if f.default is not MISSING)
REQUIRED = tuple(name for name in NAMES if name not in OPTIONAL)
