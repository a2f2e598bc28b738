"""The answer in a real browser: the offline reader's quoted answer with its citation and evidence, and an
abstention with the closest records. Same harness as test_browser.py (`household ui` subprocess, chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from household.settings import Settings
from household.taxonomy import Taxonomy
from tests.chatbot.ui.test_browser import ANSWER_TIMEOUT_MS, CHROMIUM, STEP_TIMEOUT_MS, serving

RECORDS = {
    "hvac/service-visits.csv": "date,company,technician,visit_type,work_done,cost\n"
    "2024-05-02,Polar Air Heating,Sam Ortiz,AC tune-up,Cleaned condenser coil,$119.00\n"
    "2025-05-12,Polar Air Heating,Sam Ortiz,AC tune-up,Cleaned coil; checked refrigerant charge,$129.00\n",
    "pool/pump-replacement.md": "# Pool pump replacement\n\nOn 2025-06-14 BlueWave Pools replaced the pool pump.\n",
}
HVAC = "When did we last have the HVAC tuned up, and who did it?"
UNANSWERABLE = "What's the password for our Netflix account?"


@pytest.fixture
def reader_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, taxonomy: Taxonomy, embedder) -> Iterator[str]:
    """`household ui` answering with the reader over a real store of RECORDS; yields its URL."""
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    root = tmp_path / "corpus"
    for name, text in RECORDS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    for key, value in {"CLASSIFIER": "embedding", "GENERATOR_BACKEND": "reader", "CORPUS_DIR": str(root),
                       "MIN_HITS": "1"}.items():
        monkeypatch.setenv("HOUSEHOLD_" + key, value)
    settings = Settings.load()
    Pipeline(settings, Store(settings, embedder), CategoryAssigner(settings, taxonomy)).run([root])
    with serving(tmp_path / "ui.log") as url:
        yield url


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_quoted_answer_with_evidence_then_an_abstention(reader_app: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(reader_app, timeout=STEP_TIMEOUT_MS)
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill("a" * 2100)  # st.chat_input(max_chars=max_question_chars) refuses what is over the limit
            assert len(box.input_value()) <= 2000
            box.fill(HVAC)
            box.press("Enter")
            answer = page.get_by_test_id("stChatMessage").nth(1)
            expect(answer).to_contain_text("2025-05-12", timeout=ANSWER_TIMEOUT_MS)
            expect(answer).to_contain_text("Polar Air Heating")
            expect(answer).to_contain_text("[1]")
            expect(answer).to_contain_text("Evidence")
            expect(answer).to_contain_text("service-visits.csv")

            box.fill(UNANSWERABLE)
            box.press("Enter")
            abstention = page.get_by_test_id("stChatMessage").nth(3)
            expect(abstention).to_contain_text("I found nothing about that in your records", timeout=ANSWER_TIMEOUT_MS)
            expect(abstention).to_contain_text("Closest records")
            page.screenshot(path=str(tmp_path / "answers.png"), full_page=True)
        finally:
            browser.close()
