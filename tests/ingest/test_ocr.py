"""OCR with the real Tesseract on receipts rendered here: photos, scans, rotation, EXIF, a missing binary."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.receipts import receipt, render
from household.errors import DataError
from ingest.ocr import INSTALL, Ocr
from ingest.readers import read

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")


def accuracy(got: str, truth: str) -> float:
    from bench.ocr import char_accuracy

    return char_accuracy(got, truth)


def png(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **params)
    return out.getvalue()


def text_of(documents) -> str:
    return "\n".join(r.text for doc in documents for r in doc.records)


@pytest.mark.parametrize("variant", ["clean", "rot90", "rot180", "photo"])
def test_a_rendered_receipt_reads_back(variant):
    shown = receipt(7)
    documents = read(f"/r/receipt-{variant}.png", png(render(shown, variant, size=24)))
    assert documents[0].format == "png"
    assert accuracy(text_of(documents), shown.text) >= (0.85 if variant == "photo" else 0.95)
    assert f"{shown.total:.2f}" in text_of(documents)
    assert all(0 < r.ocr_confidence <= 1 for r in documents[0].records)


def test_a_jpeg_is_turned_upright_by_its_exif_tag_and_dated_by_it():
    shown = receipt(3)
    upright = render(shown, "clean", size=24).convert("RGB")
    stored = upright.rotate(90, expand=True)  # as a phone stores it: pixels sideways, Orientation 6 says so
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0132] = "2025:06:14 10:31:00"
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=92, exif=exif)
    document = read("/r/pump.jpg", out.getvalue())[0]
    assert document.date == "2025-06-14"
    assert accuracy(text_of([document]), shown.text) >= 0.95


def test_an_image_only_pdf_and_a_heic_photo_are_read():
    from pillow_heif import register_heif_opener

    register_heif_opener()
    shown = receipt(11)
    page = render(shown, "clean", size=24).convert("RGB")
    pdf, heic = io.BytesIO(), io.BytesIO()
    page.save(pdf, "PDF", resolution=150)
    page.save(heic, "HEIF", quality=90)
    for name, data in (("/r/scan.pdf", pdf.getvalue()), ("/r/photo.heic", heic.getvalue())):
        documents = read(name, data)
        assert accuracy(text_of(documents), shown.text) >= 0.95, name
        assert all(r.ocr_confidence > 0 for r in documents[0].records)


def test_a_pdf_mixing_text_and_scanned_pages_keeps_both(tmp_path):
    from pypdf import PdfReader, PdfWriter

    shown = receipt(2)
    scan = io.BytesIO()
    render(shown, "clean", size=24).convert("RGB").save(scan, "PDF", resolution=150)
    text_page = Path(__file__).parent / "fixtures" / "docs" / "water-heater-manual.pdf"
    writer = PdfWriter()
    writer.append(PdfReader(text_page))
    writer.append(PdfReader(scan))
    out = io.BytesIO()
    writer.write(out)
    document = read("/r/mixed.pdf", out.getvalue())[0]
    typed = [r for r in document.records if r.ocr_confidence < 0]
    scanned = [r for r in document.records if r.ocr_confidence >= 0]
    assert typed and scanned
    assert f"{shown.total:.2f}" in "\n".join(r.text for r in scanned)


def test_a_broken_image_is_a_one_line_data_error():
    with pytest.raises(DataError, match="not a readable image") as caught:
        read("/r/broken.png", png(render(receipt(1)))[:200])
    assert "\n" not in str(caught.value)


def test_a_missing_language_names_its_package():
    assert "tesseract-ocr-xyz" in Ocr("eng+xyz").problem


def test_without_tesseract_pictures_and_scans_are_skipped_and_the_rest_ingested(ingest, docs, monkeypatch, tmp_path):
    shown = receipt(5)
    (docs / "receipt.png").write_bytes(png(render(shown, size=24)))
    render(shown, size=24).convert("RGB").save(docs / "scan.pdf", "PDF", resolution=150)
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    report = ingest(docs)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {"receipt.png": INSTALL, "scan.pdf": f"scanned PDF: {INSTALL}", "quote.eml#photo.jpg": INSTALL}
    assert len(report.ingested) == len(list(docs.iterdir())) - 2, "everything else, the mail with its csv included"


def test_ocr_confidence_is_stored_per_chunk_and_a_low_one_reported(ingest, store, tmp_path):
    folder = tmp_path / "receipts"
    folder.mkdir()
    (folder / "clean.png").write_bytes(png(render(receipt(4), size=24)))
    (folder / "note.txt").write_text("The pool pump was primed on 2025-05-02.")
    report = ingest(folder, ocr_min_confidence=0.999)
    metas = {Path(meta.source).name: meta for _, _, meta in store.chunks()}
    assert 0.6 < metas["clean.png"].ocr_confidence <= 1 and metas["note.txt"].ocr_confidence == -1.0
    assert [Path(low.source).name for low in report.low_confidence] == ["clean.png"]
    assert ingest(folder, ocr_min_confidence=0.1).low_confidence == []
