"""The running app in a real browser: ask, see the category tag, flag it, find the correction in SQLite.

Starts `household ui` exactly as a user would (a subprocess on a free loopback port, settings from
HOUSEHOLD_* variables) and drives Debian's chromium through Playwright. Every wait is bounded and
the server's whole process group is stopped however the test ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from storage.feedback import FeedbackStore
from household.settings import Settings

CHROMIUM = shutil.which("chromium")
START_TIMEOUT_S = 90
ANSWER_TIMEOUT_MS = 180_000  # the first question loads MiniLM and the classifier head in the server
STEP_TIMEOUT_MS = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"`household ui` exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"`household ui` did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def serving(log: Path) -> Iterator[str]:
    """`household ui --port N` with this process's HOUSEHOLD_* settings; yields its URL, then stops its group."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("household")), "ui", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,  # its own group: streamlit too
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, log)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


@pytest.fixture
def running_app(ui_store, ollama, tmp_path: Path) -> Iterator[str]:
    """`household ui --port N` serving the test's store and stub; yields its URL."""
    with serving(tmp_path / "ui.log") as url:
        yield url


def open_chat(playwright: Any, url: str) -> tuple[Any, Any]:
    """Debian's chromium, headless, on the running app: (browser, page)."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(url, timeout=STEP_TIMEOUT_MS)
    return browser, page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_ask_see_tag_flag_and_find_the_correction(running_app: str, taxonomy, world, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    pool, fountain = taxonomy.find("pool"), taxonomy.find("fountain")
    with sync_playwright() as p:
        browser, page = open_chat(p, running_app)
        try:
            question = page.get_by_test_id("stChatInputTextArea")
            question.fill(world.question)
            question.press("Enter")

            tag = page.locator("span.category-tag").first
            expect(tag).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
            assert tag.get_attribute("data-code") == pool.code
            assert tag.inner_text() == pool.name
            assert tag.get_attribute("title").startswith("confidence ")
            expect(page.get_by_text(world.answer)).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

            page.get_by_role("button", name="Wrong category?").click()
            page.get_by_role("combobox", name="Right category").click()
            page.get_by_role("option", name=fountain.name, exact=True).click()
            page.get_by_role("button", name="Save correction").click()
            expect(page.get_by_text("Saved correction #")).to_be_visible()
            page.screenshot(path=str(tmp_path / "flagged.png"), full_page=True)
        finally:
            browser.close()

    [row] = FeedbackStore(Settings.load().feedback_db).list()
    assert (row.question, row.predicted_code, row.corrected_code) == (world.question, pool.code, fountain.code)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_who_did_it_after_a_question_names_the_company_of_the_same_record(running_app: str, taxonomy, world,
                                                                          ollama) -> None:
    from playwright.sync_api import expect, sync_playwright

    pool = taxonomy.find("pool")
    with sync_playwright() as p:
        browser, page = open_chat(p, running_app)
        try:
            for question, answers in ((world.question, 1), ("who did it?", 2)):
                box = page.get_by_test_id("stChatInputTextArea")
                box.fill(question)
                box.press("Enter")
                expect(page.get_by_text(world.answer)).to_have_count(answers, timeout=ANSWER_TIMEOUT_MS)

            tag = page.locator("span.category-tag").nth(1)
            assert tag.get_attribute("data-code") == pool.code
            assert tag.get_attribute("title") == "from your previous question"
            second = page.get_by_test_id("stChatMessage").nth(3)
            expect(second).to_contain_text("BlueWave Pools")
        finally:
            browser.close()
    follow_up = ollama.requests[-1]["messages"][-1]["content"]
    assert "who did it?" in follow_up and "BlueWave Pools" in follow_up  # the pool record reached the generator
