"""Entry script of `household ui`: loads the shared context once, draws the sidebar, routes the pages.

Run through the launcher (`household ui`), which binds to settings.ui_host; or directly:
    streamlit run chatbot/ui/app.py --server.address 127.0.0.1
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from chatbot.ui.context import load_context
from chatbot.ui.sidebar import show_sidebar
from household.errors import HouseholdError

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="Household records", page_icon=":material/home:", layout="wide")
st.set_option("client.showErrorDetails", "none")  # a family member never sees a traceback; the log has it
st.set_option("client.toolbarMode", "viewer")  # no "Deploy" button on a private household app

try:
    context = load_context()
except HouseholdError as exc:
    logging.getLogger(__name__).error("cannot start the UI: %s", exc)
    st.error(f"Cannot start: {exc}")
    st.stop()

page = st.navigation(
    [
        st.Page(PAGES / "chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page(PAGES / "feedback.py", title="Feedback", icon=":material/rule:"),
    ]
)
page.run()
show_sidebar(context)  # after the page: loading the classifier for its name must not delay the chat
