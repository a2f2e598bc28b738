"""The category taxonomy, read from data/categories.toml (the single source of truth)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from household.errors import DataError

CODE_RE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Category:
    name: str
    code: str
    scope: str
    color: str = "#888888"


class Taxonomy:
    """An ordered set of categories, looked up by name or code."""

    def __init__(self, categories: list[Category]) -> None:
        self.categories = tuple(categories)
        self._by_name = {c.name: c for c in categories}
        self._by_code = {c.code: c for c in categories}

    @classmethod
    def load(cls, path: Path) -> "Taxonomy":
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(path, None, "taxonomy file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise DataError(path, getattr(exc, "lineno", None), f"invalid TOML: {exc}") from None
        rows = raw.get("category")
        if not isinstance(rows, list) or not rows:
            raise DataError(path, None, "no [[category]] blocks")
        categories: list[Category] = []
        for i, row in enumerate(rows, 1):
            try:
                cat = Category(name=row["name"], code=row["code"], scope=row["scope"], color=row.get("color", "#888888"))
            except KeyError as exc:
                raise DataError(path, None, f"category #{i} lacks {exc.args[0]!r}") from None
            if not CODE_RE.match(cat.code):
                raise DataError(path, None, f"category {cat.name!r}: code {cat.code!r} is not two capital letters")
            if any(c.name == cat.name or c.code == cat.code for c in categories):
                raise DataError(path, None, f"category {cat.name!r}/{cat.code!r} is defined twice")
            categories.append(cat)
        return cls(categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self):
        return iter(self.categories)

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def by_code(self, code: str) -> Category:
        return self._by_code[code]

    def by_name(self, name: str) -> Category:
        return self._by_name[name]

    def find(self, name_or_code: str) -> Category | None:
        """Look up by code, exact name, or name with hyphens/underscores for spaces."""
        key = name_or_code.strip()
        norm = key.lower().replace("-", " ").replace("_", " ")
        return self._by_code.get(key.upper()) or self._by_name.get(norm)

    def index(self, code: str) -> int:
        return self.codes.index(code)
