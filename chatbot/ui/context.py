"""What every page of the UI shares: settings read once, the taxonomy, one Assistant, the feedback store."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from chatbot.assistant import Assistant
from storage.feedback import FeedbackStore
from household.settings import Settings
from household.taxonomy import Taxonomy


@dataclass(frozen=True)
class Context:
    settings: Settings
    taxonomy: Taxonomy
    assistant: Assistant
    feedback: FeedbackStore


@st.cache_resource(show_spinner="Starting up…")
def load_context() -> Context:
    """Built once per server process: the models inside the Assistant load lazily and stay loaded."""
    settings = Settings.load()
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    return Context(settings, taxonomy, Assistant(settings, taxonomy), FeedbackStore(settings.feedback_db))
