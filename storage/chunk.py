"""The metadata of one stored chunk: the one definition, written and read only here.

Chroma keeps metadata as a flat dict of str/int/float/bool; `to_chroma` and `from_chroma` are the
only places that translate, so a renamed field fails loudly instead of silently reading a default.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Mapping

from household.errors import ServiceError


@dataclass(frozen=True)
class ChunkMeta:
    """What every chunk carries besides its text and vector.

    `source` is the absolute path of the document (attachments: `/abs/mail.eml#bill.csv`), `file` the
    path on disk; `content_hash` is the sha256 of the file and `file_chunks` the file's chunk count,
    together enough to detect a half-written file. `category` is the primary code (display, counts);
    `category_origin` is flag | folder | front-matter | record | classifier. `title` and `date`
    (YYYY-MM-DD) are empty where the format has none. `ocr_confidence` (0..1) is the lowest OCR
    confidence of the pages the chunk was read from, -1.0 (Chroma cannot hold None) for text that
    came as text.
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
    ocr_confidence: float = -1.0

    def to_chroma(self) -> dict[str, str | int | float | bool]:
        """Chroma's form: empty optional strings are left out (Chroma cannot store None)."""
        return {key: value for key, value in asdict(self).items() if value != "" or key not in OPTIONAL}

    @classmethod
    def from_chroma(cls, raw: Mapping[str, Any]) -> "ChunkMeta":
        missing = [name for name in REQUIRED if name not in raw]
        if missing:
            raise ServiceError(
                f"a stored chunk lacks {', '.join(missing)}: the store was written by another version; "
                "rebuild it with `household ingest --rebuild DIR`"
            )
        return cls(**{name: raw[name] for name in NAMES if name in raw})


NAMES = tuple(f.name for f in fields(ChunkMeta))
OPTIONAL = frozenset(f.name for f in fields(ChunkMeta) if f.default is not MISSING)
REQUIRED = tuple(name for name in NAMES if name not in OPTIONAL)
