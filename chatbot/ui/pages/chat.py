"""The chat: every question carries its category tag, a "Wrong category?" popover and its sources."""

from __future__ import annotations

import streamlit as st

from chatbot.ui.context import Context, load_context
from chatbot.ui.evidence import closest_lines, evidence_lines, plain, plain_pieces, unverified_line
from chatbot.ui.sources import path_caption, source_rows
from chatbot.ui.tag import category_tag
from chatbot.conversation import Conversation
from chatbot.ui.turn import Turn, ask, conversation, rerun, save_correction
from household.errors import HouseholdError


def history() -> list[Turn]:
    return st.session_state.setdefault("history", [])


def before(turn: Turn) -> Conversation:
    """The conversation `turn` was asked in: the turns above it on the page."""
    turns = history()
    return conversation(turns[: next((i for i, t in enumerate(turns) if t is turn), len(turns))])


def on_new_conversation() -> None:
    """Forget the turns (and their correction widgets): the next question is read alone."""
    st.session_state["history"] = []
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("fix-")]:
        del st.session_state[key]


def on_save(context: Context, index: int) -> None:
    turn, code = history()[index], st.session_state[f"fix-{index}"]
    try:
        row = save_correction(context.assistant, turn, code)
    except HouseholdError as exc:
        turn.notice = None
        st.session_state[f"fix-error-{index}"] = str(exc)
        return
    name = context.taxonomy.by_code(code).name
    turn.notice = f"Saved correction #{row}: this question belongs to {name}."


def on_rerun(context: Context, index: int) -> None:
    rerun(context.assistant, history()[index], st.session_state[f"fix-{index}"], before(history()[index]))


def show_question(context: Context, index: int, turn: Turn) -> None:
    with st.chat_message("user"):
        if turn.code:
            category = context.taxonomy.by_code(turn.code)
            predicted = context.taxonomy.by_code(turn.predicted.code) if turn.predicted else None
            confidence = turn.predicted.confidence if turn.predicted and not turn.forced else None
            tag = category_tag(category, confidence, predicted, turn.carried, turn.remembered)
            st.markdown(tag, unsafe_allow_html=True)
        st.markdown(turn.question)
        if turn.predicted is None:
            return
        with st.popover("Wrong category?", icon=":material/sell:"):
            code = st.selectbox(
                "Right category", context.taxonomy.codes, index=None, key=f"fix-{index}",
                format_func=lambda c: context.taxonomy.by_code(c).name, placeholder="Pick the right category",
            )
            name = context.taxonomy.by_code(code).name if code else "…"
            st.button("Save correction", key=f"save-{index}", disabled=code is None, on_click=on_save,
                      args=(context, index), icon=":material/save:")
            st.button(f"Rerun with {name}", key=f"rerun-{index}", disabled=code is None, on_click=on_rerun,
                      args=(context, index), icon=":material/refresh:")
        if turn.notice:
            st.success(turn.notice, icon=":material/check:")
        if error := st.session_state.pop(f"fix-error-{index}", None):
            st.error(error)


def show_answer(context: Context, turn: Turn) -> None:
    with st.chat_message("assistant"):
        if turn.retrieval is None:
            st.error(turn.error)
            return
        if turn.answer is None:
            answer = context.assistant.answer(turn.retrieval, before(turn))
            try:
                st.write_stream(plain_pieces(answer))
                turn.answer, turn.checked = answer.text, answer
            except HouseholdError as exc:
                turn.answer, turn.error = answer.text, str(exc)
        elif turn.answer:
            st.markdown(plain(turn.answer))
        if turn.error:
            st.error(turn.error)
        show_evidence(context, turn)
        with st.expander(f"Sources ({len(turn.retrieval.hits)})", icon=":material/description:"):
            st.caption(path_caption(turn.retrieval, context.taxonomy))
            if turn.retrieval.hits:
                rows = source_rows(turn.retrieval, context.taxonomy, context.settings.corpus_dir)
                st.dataframe(rows, hide_index=True)
            else:
                st.write("No records matched.")


def show_evidence(context: Context, turn: Turn) -> None:
    """The quoted lines under the answer, its unverified facts; for an abstention, the closest records."""
    answer = turn.checked
    if answer is None:
        return
    if line := unverified_line(answer):
        st.warning(line, icon=":material/warning:")
    if answer.evidence:
        st.caption("Evidence")
        st.markdown("  \n".join(evidence_lines(answer, context.taxonomy)))
    elif answer.abstained and answer.hits:
        st.caption("Closest records")
        st.markdown("  \n".join(closest_lines(answer, context.taxonomy)))


def main() -> None:
    context = load_context()
    st.title("Household records")
    st.button("New conversation", on_click=on_new_conversation, icon=":material/add_comment:",
              help="Forget the questions so far: the next one is read on its own.")
    for index, turn in enumerate(history()):
        show_question(context, index, turn)
        show_answer(context, turn)
    if question := st.chat_input("Ask about your household records, e.g. when was the pool pump replaced?",
                                 max_chars=context.settings.max_question_chars):
        with st.spinner("Searching your records…"):
            turn = ask(context.assistant, question, conversation(history()))
        history().append(turn)
        show_question(context, len(history()) - 1, turn)
        show_answer(context, turn)


main()
