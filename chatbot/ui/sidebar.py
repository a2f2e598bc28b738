"""The sidebar on every page: which models answer, what the store holds, whether the generator is up."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from chatbot.ui.sources import category_name
from household.errors import HouseholdError
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from chatbot.ui.context import Context


def model_lines(context: "Context") -> list[str]:
    """Markdown bullet lines naming the classifier (and its version), the embedder and the generator."""
    settings, assistant = context.settings, context.assistant
    name, version = assistant.classifier.name, assistant.model_version()
    classifier = name if version == name else f"{name} · {version}"
    generator = f"{settings.generator_backend} · {settings.generator_model}"
    return [
        f"- **Classifier:** `{classifier}`",
        f"- **Embedder:** `{settings.embedding_model}`",
        f"- **Generator:** `{generator}`",
    ]


def category_counts(stats: dict, taxonomy: Taxonomy) -> list[dict]:
    """Chunks per category, largest first, named from the taxonomy."""
    counts = sorted(stats.get("categories", {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"category": category_name(taxonomy, code), "chunks": n} for code, n in counts]


def show_sidebar(context: "Context") -> None:
    with st.sidebar:
        st.subheader("Models")
        try:
            st.markdown("\n".join(model_lines(context)))
        except HouseholdError as exc:
            st.error(str(exc))
        st.subheader("Store")
        try:
            stats = context.assistant.store.stats()
        except HouseholdError as exc:
            st.error(str(exc))
        else:
            if stats["chunks"]:
                st.markdown(f"**{stats['chunks']}** chunks from **{stats['sources']}** sources")
                st.dataframe(category_counts(stats, context.taxonomy), hide_index=True)
            else:
                st.warning("The store is empty: run `household ingest data/household` first.")
        st.subheader("Generator")
        st.caption(context.assistant.generator.status())
