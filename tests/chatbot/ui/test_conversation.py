"""Follow-up questions in the chat page (AppTest): carry-over, topic switch, "New conversation"."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from tests.chat_page import open_page, tags

from household.settings import Settings
from storage.feedback import FeedbackStore

CARRIED = "from your previous question"

pytestmark = pytest.mark.usefixtures("fresh_context")


def chat(*questions: str) -> AppTest:
    at = open_page()
    for question in questions:
        at.chat_input[0].set_value(question).run()
        assert not at.exception, at.exception
    return at


def test_a_follow_up_is_searched_under_the_previous_category(ui_store, ollama, taxonomy, world) -> None:
    at = chat(world.question, "Who did it?")
    pool = taxonomy.find("pool").code
    (first, first_title), (second, second_title) = tags(at)
    assert first == second == pool
    assert first_title.startswith("confidence") and second_title == CARRIED
    assert world.answer in " ".join(m.value for m in at.chat_message[3].markdown)  # the same record answered
    assert "pool" in at.expander[1].caption[0].value
    prompt = ollama.requests[-1]["messages"][-1]["content"]
    assert world.question in prompt and "Who did it?" in prompt  # the generator saw the earlier turn


def test_a_topic_switch_moves_to_the_new_category(ui_store, ollama, taxonomy, world) -> None:
    at = chat(world.question, "And the fountain?")
    (first, _), (second, title) = tags(at)
    assert first == taxonomy.find("pool").code and second == taxonomy.find("fountain").code
    assert title != CARRIED
    assert at.expander[1].dataframe[0].value["category"].iloc[0] == "fountain"  # searched under the new category


def test_a_correction_on_a_follow_up_keeps_its_context(ui_store, ollama, taxonomy, world) -> None:
    at = chat(world.question, "Who did it?")
    car = taxonomy.find("car").code
    at.selectbox(key="fix-1").set_value(car).run()
    at.button(key="save-1").click().run()
    assert not at.exception, at.exception
    [row] = FeedbackStore(Settings.load().feedback_db).list()
    assert (row.question, row.corrected_code) == ("Who did it?", car)
    assert json.loads(row.context)["previous"] == world.question


def test_new_conversation_forgets_the_context(ui_store, ollama, taxonomy, world) -> None:
    at = chat(world.question)
    [button] = [b for b in at.button if b.label == "New conversation"]
    button.click().run()
    assert not at.exception, at.exception
    assert len(at.chat_message) == 0 and not tags(at)
    at.chat_input[0].set_value("Who did it?").run()
    [(_, title)] = tags(at)
    assert title != CARRIED  # read alone: nothing before it to carry
