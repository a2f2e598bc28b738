"""The chat page under Streamlit's AppTest: where it is, how long its first run may take, what its tags say."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

import chatbot.ui

APP = Path(chatbot.ui.__file__).parent / "app.py"
TIMEOUT = 180  # the first run in a session trains the embedding head (cached afterwards)


def open_page() -> AppTest:
    """The page after its first run, as a browser opening it sees it."""
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def tags(at: AppTest) -> list[tuple[str, str]]:
    """(data-code, title) of every category pill on the page."""
    html = " ".join(m.value for m in at.markdown if "category-tag" in m.value)
    return re.findall(r'class="category-tag" data-code="([A-Z]{2})" title="([^"]*)"', html)
