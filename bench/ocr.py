"""Section: OCR of rendered receipts (character accuracy, seconds per page) and questions about them.

Receipts with known text (bench/receipts.py) are rendered clean, rotated 90/180/270 and degraded
(blur, noise, low contrast, a tilted unevenly lit "photo") and read back through the product's
reader (`ingest.readers.read`). Character accuracy is 1 - edit distance / length of the true text,
whitespace collapsed. Then the pictures are ingested into a fresh store and three questions per
receipt (its total, its date, its shop) are searched: hit@5 is the share whose top 5 chunks come
from that receipt's picture. The alternative timed in the same run is Tesseract with no clean-up
(no orientation detection, default page layout), to show what the clean-up buys.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from statistics import mean

from bench.receipts import DEGRADED, VARIANTS, Receipt, receipt, render
from bench.report import Section
from bench.workspace import Workspace

SIZES = (20, 24, 28)  # font pixel heights: a receipt photographed from further or closer
TARGETS = {"clean": 0.95, "rotated": 0.95, "degraded": 0.85}


def char_accuracy(got: str, truth: str) -> float:
    """1 - Levenshtein distance / len(truth), on whitespace-collapsed text (0 when nothing matches)."""
    a, b = " ".join(got.split()), " ".join(truth.split())
    if not b:
        return 1.0 if not a else 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return max(0.0, 1 - previous[-1] / len(b))


def group(variant: str) -> str:
    return "degraded" if variant in DEGRADED else "rotated" if variant.startswith("rot") else "clean"


def questions(shown: Receipt) -> list[tuple[str, str]]:
    """(what is asked about, the question) for a receipt: its total, its date, its shop."""
    item, price = shown.items[0]
    return [
        ("total", f"How much was the total at {shown.shop} on {shown.day.isoformat()}?"),
        ("date", f"When did we buy the {item} at {shown.shop}?"),
        ("shop", f"Which shop sold us {item} for {price:.2f}?"),
    ]


def run(ws: Workspace) -> Section:
    import pytesseract

    from ingest.category import CategoryAssigner
    from ingest.ocr import Ocr
    from ingest.pipeline import Pipeline
    from ingest.readers import read
    from storage.store import Store

    section = Section("ocr", "OCR of rendered receipts: character accuracy, speed, questions after ingest")
    settings = ws.settings_for("ocr")
    ocr = Ocr(settings.ocr_languages)
    if ocr.problem:
        raise RuntimeError(ocr.problem)
    folder = ws.root / "receipts"
    folder.mkdir()
    rows = []
    for n in range(ws.sizes.receipts):
        variant, size = VARIANTS[n % len(VARIANTS)], SIZES[n // len(VARIANTS) % len(SIZES)]
        shown = receipt(n)
        image = render(shown, variant, size=size, seed=n)
        data = io.BytesIO()
        image.save(data, "PNG")
        path = folder / f"receipt-{n:02d}-{variant}.png"
        path.write_bytes(data.getvalue())
        started = time.perf_counter()
        documents = read(str(path), data.getvalue(), ocr)
        seconds = time.perf_counter() - started
        text = "\n".join(r.text for doc in documents for r in doc.records)
        started = time.perf_counter()
        plain = pytesseract.image_to_string(image)
        plain_seconds = time.perf_counter() - started
        rows.append({
            "file": path.name, "variant": variant, "size": size, "seconds": round(seconds, 2),
            "accuracy": round(char_accuracy(text, shown.text), 4), "plain_accuracy": round(char_accuracy(plain, shown.text), 4),
            "plain_seconds": round(plain_seconds, 2), "confidence": min(r.ocr_confidence for r in documents[0].records),
        })
        ws.say(f"ocr: {path.name} accuracy {rows[-1]['accuracy']:.3f} (plain {rows[-1]['plain_accuracy']:.3f}) in {seconds:.1f} s")
    pdf_seconds, pages = _scanned_pdf(ws, ocr, read)
    hits = _questions(ws, settings, folder, Store, Pipeline, CategoryAssigner)
    by_group = {
        name: [r for r in rows if group(r["variant"]) == name] for name in ("clean", "rotated", "degraded")
    }
    section.figures = {
        "receipts": len(rows), "rows": rows,
        "accuracy": {name: round(mean(r["accuracy"] for r in g), 4) for name, g in by_group.items() if g},
        "accuracy_min": {name: min(r["accuracy"] for r in g) for name, g in by_group.items() if g},
        "plain_accuracy": {name: round(mean(r["plain_accuracy"] for r in g), 4) for name, g in by_group.items() if g},
        "seconds_per_picture": round(mean(r["seconds"] for r in rows), 2),
        "plain_seconds_per_picture": round(mean(r["plain_seconds"] for r in rows), 2),
        "scanned_pdf_seconds_per_page": round(pdf_seconds / pages, 2), "hit_at_5": hits,
    }
    for name, g in by_group.items():
        if not g:
            continue
        acc = section.figures["accuracy"][name]
        section.row(f"character accuracy, {name} ({len(g)} receipts: {', '.join(sorted({r['variant'] for r in g}))})",
                    f"{acc:.1%} (min {section.figures['accuracy_min'][name]:.1%})",
                    f"plain Tesseract {section.figures['plain_accuracy'][name]:.1%}")
        section.targets[f"{name} accuracy >= {TARGETS[name]:.0%}"] = acc >= TARGETS[name]
    section.row("OCR seconds per picture (read, orientation, clean-up, Tesseract)",
                f"{section.figures['seconds_per_picture']:.2f}",
                f"plain Tesseract {section.figures['plain_seconds_per_picture']:.2f}")
    section.row(f"scanned PDF, seconds per page (rendered at 300 dpi, {pages} pages)",
                f"{section.figures['scanned_pdf_seconds_per_page']:.2f}")
    for name, figure in hits.items():
        section.row(f"hit@5 after ingest, {name}", f"{figure['hit']}/{figure['asked']} ({figure['rate']:.0%})")
    section.targets["clean receipts: total, date and shop all found (hit@5 = 100%)"] = hits["clean"]["rate"] == 1.0
    section.notes.append(
        "Pictures 500-700 px wide, Pillow's bundled font; one Tesseract thread (OMP_THREAD_LIMIT=1). Plain Tesseract = "
        "`pytesseract.image_to_string` with no orientation detection and the default page layout."
    )
    return section


def _scanned_pdf(ws: Workspace, ocr, read) -> tuple[float, int]:
    """Seconds to read a two-page image-only PDF (pages rendered back from it, then OCR)."""
    pages = [render(receipt(100 + n), "clean", size=24).convert("RGB") for n in range(2)]
    data = io.BytesIO()
    pages[0].save(data, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    started = time.perf_counter()
    read(str(ws.root / "scan.pdf"), data.getvalue(), ocr)
    return time.perf_counter() - started, len(pages)


def _questions(ws: Workspace, settings, folder: Path, Store, Pipeline, CategoryAssigner) -> dict[str, dict]:
    """hit@5 per variant group: ingest the pictures, ask three questions per receipt, unfiltered vector search."""
    store = Store(settings, ws.embedder)
    category = ws.taxonomy.find(settings.unfiltered_category) or next(iter(ws.taxonomy))
    report = Pipeline(settings, store, CategoryAssigner(settings, ws.taxonomy, category.code)).run([folder])
    if report.skipped:
        raise RuntimeError(f"{len(report.skipped)} receipts skipped: {report.skipped[0].reason}")
    counts: dict[str, dict] = {}
    for path in sorted(folder.iterdir()):
        n, variant = int(path.stem.split("-")[1]), path.stem.split("-", 2)[2]
        for _, question in questions(receipt(n)):
            found = {Path(hit.meta.source).name for hit in store.search(question, 5)}
            for name in (group(variant), "all"):
                entry = counts.setdefault(name, {"asked": 0, "hit": 0})
                entry["asked"] += 1
                entry["hit"] += path.name in found
    for entry in counts.values():
        entry["rate"] = round(entry["hit"] / entry["asked"], 4)
    return counts
