"""Corrections the family made to categories: review them, delete mistakes, export for fine-tuning."""

from __future__ import annotations

import streamlit as st

from chatbot.ui.context import Context, load_context
from chatbot.ui.corrections import correction_rows, export_text
from household.errors import HouseholdError


def on_delete(context: Context) -> None:
    row = st.session_state["delete-id"]
    try:
        deleted = context.feedback.delete(row)
    except HouseholdError as exc:
        st.session_state["feedback-notice"] = ("error", str(exc))
        return
    st.session_state["feedback-notice"] = (
        ("success", f"Deleted correction #{row}.") if deleted else ("warning", f"Correction #{row} was already gone.")
    )


def main() -> None:
    context = load_context()
    st.title("Feedback")
    st.caption(
        "Categories you corrected in the chat. `household finetune` learns from the exported file; "
        "delete a correction that was itself a mistake."
    )
    if notice := st.session_state.pop("feedback-notice", None):
        kind, message = notice
        getattr(st, kind)(message)
    corrections = context.feedback.list()
    if not corrections:
        st.info("No corrections yet. Use “Wrong category?” under a question in the chat.")
        return
    st.dataframe(correction_rows(corrections, context.taxonomy), hide_index=True)
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    with left:
        labels = {c.id: f"#{c.id}: {c.question}" for c in corrections}
        st.selectbox("Correction to delete", list(labels), key="delete-id", format_func=labels.get)
    with right:
        st.button("Delete", on_click=on_delete, args=(context,), icon=":material/delete:")
    st.download_button(
        "Export JSONL for fine-tuning", export_text(context.feedback, context.taxonomy),
        file_name="corrections.jsonl", mime="application/jsonl", icon=":material/download:",
    )


main()
