"""Reading text out of pictures: Tesseract, with the clean-up a phone photo or a scan needs first.

A page is turned upright (Tesseract's orientation detection, OSD), its lighting flattened and its
contrast stretched, then read as one column of lines (`--psm 4`: a receipt's prices stay on the
line of their item instead of becoming a column of their own). When the words come back unsure,
Tesseract's Sauvola binarisation is tried as well and the reading with more confident text kept.
Measured on rendered receipts by `python -m bench --only ocr`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from household.errors import DataError

if TYPE_CHECKING:
    from PIL import Image

INSTALL = "install tesseract-ocr to read images and scanned pages"
LAYOUT = "--psm 4"  # one column of lines of varying size: receipts, letters, forms
RETRY_BELOW = 0.90  # mean word confidence under which the binarised reading is tried too
MIN_OSD_CONFIDENCE = 1.5  # Tesseract's orientation confidence; below it the page is left as it is
MAX_SIDE = 3600  # pixels: a larger photo is scaled down (an A4 page at 300 dpi is 3508 high)
TIMEOUT_S = 120
_ENV_LOCK = threading.Lock()


@dataclass(frozen=True)
class OcrPage:
    """What one page said: its paragraphs (lines joined by newlines), how sure Tesseract was, the turn applied."""

    paragraphs: tuple[str, ...]
    confidence: float  # 0..1, mean word confidence weighted by word length; 0 when nothing was read
    rotation: int = 0  # degrees the page was turned clockwise before reading

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def score(self) -> float:
        """Confidently read characters: compares two readings of one page (more text, surer words)."""
        return self.confidence * sum(len(p) for p in self.paragraphs)


class Ocr:
    """Tesseract for the languages of `ocr_languages` (Tesseract's `eng+deu` form); one per ingest run."""

    def __init__(self, languages: str = "eng") -> None:
        self.languages = languages.strip() or "eng"

    @cached_property
    def problem(self) -> str:
        """Why OCR cannot run here (the one-line Skipped reason), or "" when it can; checked once."""
        import pytesseract

        if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
            return INSTALL
        try:
            installed = set(pytesseract.get_languages())
        except (pytesseract.TesseractError, OSError) as exc:
            return f"tesseract does not run ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
        missing = [lang for lang in self.languages.split("+") if lang not in installed]
        if missing:
            packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
            return f"OCR language {'+'.join(missing)} is not installed (ocr_languages): install {packages}"
        return ""

    def read(self, source: str, image: Image.Image) -> OcrPage:
        """The page's text; raises DataError when Tesseract is missing or fails on this image."""
        if self.problem:
            raise DataError(source, None, self.problem)
        import pytesseract

        try:
            page = prepare(image)
            rotation = self._orientation(page)
            if rotation:
                page = page.rotate(-rotation, expand=True, fillcolor=255)  # OSD counts clockwise, Pillow the other way
            reading = self._data(flatten(page), rotation)
            if reading.confidence < RETRY_BELOW:
                binarised = self._data(page, rotation, "-c thresholding_method=2")
                reading = max(reading, binarised, key=lambda r: r.score)
            return reading
        except (pytesseract.TesseractError, RuntimeError) as exc:  # RuntimeError: pytesseract's timeout
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise DataError(source, None, f"OCR failed ({detail})") from None

    def _orientation(self, page: Image.Image) -> int:
        """Degrees to turn the page upright per OSD; 0 when OSD is unsure or finds too little text."""
        import pytesseract

        try:
            with _one_thread():
                osd = pytesseract.image_to_osd(
                    page, config="--psm 0", output_type=pytesseract.Output.DICT, timeout=TIMEOUT_S
                )
        except pytesseract.TesseractError:  # "Too few characters": a sparse page is read as it is
            return 0
        return int(osd["rotate"]) % 360 if float(osd["orientation_conf"]) >= MIN_OSD_CONFIDENCE else 0

    def _data(self, image: Image.Image, rotation: int, extra: str = "") -> OcrPage:
        import pytesseract

        with _one_thread():
            data = pytesseract.image_to_data(
                image, lang=self.languages, config=f"{LAYOUT} {extra}".strip(),
                output_type=pytesseract.Output.DICT, timeout=TIMEOUT_S,
            )
        return _page(data, rotation)


def prepare(image: Image.Image) -> Image.Image:
    """Grey, upright per the camera's EXIF tag, and no larger than MAX_SIDE."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        paper = PILImage.new("RGBA", image.size, "white")  # transparent pixels are paper, not ink
        paper.alpha_composite(image.convert("RGBA"))
        image = paper
    image = image.convert("L") if image.mode != "L" else image
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    return image


def flatten(image: Image.Image) -> Image.Image:
    """Uneven light evened out (divided by the paper's own brightness), then the contrast stretched.

    The paper's brightness is the local maximum on a quarter-size copy, blurred: ink is darker than
    paper, so the maximum filter removes the text and leaves the light falling on the page.
    """
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageFilter, ImageOps

    small = image.resize((max(1, image.width // 4), max(1, image.height // 4)))
    paper = small.filter(ImageFilter.MaxFilter(9)).filter(ImageFilter.GaussianBlur(4)).resize(image.size)
    ratio = np.asarray(image, np.float32) / np.maximum(np.asarray(paper, np.float32), 1.0) * 255
    return ImageOps.autocontrast(PILImage.fromarray(np.clip(ratio, 0, 255).astype(np.uint8)), cutoff=1)


def _page(data: dict[str, list], rotation: int) -> OcrPage:
    """Tesseract's word table as paragraphs of lines, with the length-weighted mean word confidence."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    weighted, characters = 0.0, 0
    for block, par, line, word, conf in zip(data["block_num"], data["par_num"], data["line_num"], data["text"], data["conf"]):
        word = word.strip()
        if not word or float(conf) < 0:
            continue
        lines.setdefault((block, par, line), []).append(word)
        weighted += float(conf) * len(word)
        characters += len(word)
    paragraphs: dict[tuple[int, int], list[str]] = {}
    for (block, par, _), words in lines.items():
        paragraphs.setdefault((block, par), []).append(" ".join(words))
    confidence = round(weighted / characters / 100, 4) if characters else 0.0
    return OcrPage(tuple("\n".join(p) for p in paragraphs.values()), confidence, rotation)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tesseract's OpenMP threads fight over a busy CPU (3x slower measured here): the child gets one.

    pytesseract starts Tesseract with this process's environment, so the limit is set around the call.
    """
    with _ENV_LOCK:
        before = os.environ.get("OMP_THREAD_LIMIT")
        os.environ["OMP_THREAD_LIMIT"] = "1"
        try:
            yield
        finally:
            if before is None:
                del os.environ["OMP_THREAD_LIMIT"]
            else:
                os.environ["OMP_THREAD_LIMIT"] = before
