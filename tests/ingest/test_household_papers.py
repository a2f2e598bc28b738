"""Issue 14's folder: a phone-style receipt photo, a scanned PDF, a .docx and an .xlsx, through `household`."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from bench.receipts import receipt, render
from tests.ingest.test_office import hoa_rules, service_history

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")


def test_a_folder_of_household_papers_is_stored_and_the_receipt_total_found(cli, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    shown = receipt(9)
    photo = render(shown, "photo", size=26, seed=9).convert("RGB").rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, as a phone does
    photo.save(folder / "pool-pump-receipt.jpg", "JPEG", quality=90, exif=exif)
    scan = receipt(10)
    render(scan, "clean", size=24).convert("RGB").save(folder / "warranty-scan.pdf", "PDF", resolution=150)
    (folder / "hoa-rules.docx").write_bytes(hoa_rules())
    (folder / "car.xlsx").write_bytes(service_history())

    result = cli("ingest", folder, "--category", "general", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["skipped"] == [] and len(report["ingested"]) == 4
    assert report["store"]["sources"] == 4

    asked = ((f"total at {shown.shop} on {shown.day.isoformat()}", "pool-pump-receipt.jpg", shown.total),
             (f"receipt {scan.number} from {scan.shop}", "warranty-scan.pdf", scan.total))
    for question, wanted, total in asked:
        found = json.loads(cli("search", question, "--no-filter", "--json", "-k", "5").output)
        texts = [hit["text"] for hit in found["hits"] if hit["source"].endswith(wanted)]
        assert any(f"{total:.2f}" in text for text in texts), (question, [hit["source"] for hit in found["hits"]])
