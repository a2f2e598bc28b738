"""The pages' logic through Streamlit's AppTest: real store, real MiniLM classifier, Ollama stub."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest
from tests.chat_page import open_page, tags
from tests.ollama_server import closed_url

from storage.feedback import FeedbackStore
from household.settings import Settings

pytestmark = pytest.mark.usefixtures("fresh_context")


def ask(question: str) -> AppTest:
    at = open_page()
    assert not at.exception, at.exception
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def test_question_gets_tag_streamed_answer_and_sources(ui_store, ollama, taxonomy, world) -> None:
    at = ask(world.question)
    pool = taxonomy.find("pool")
    [(code, title)] = tags(at)
    assert code == pool.code
    assert re.fullmatch(r"confidence \d+%", title)
    user, assistant = at.chat_message
    assert user.name == "user" and any(world.question in m.value for m in user.markdown)
    assert assistant.name == "assistant" and any(world.answer in m.value for m in assistant.markdown)
    sources = at.expander[0]
    assert "filtered" in sources.caption[0].value and "pool" in sources.caption[0].value
    table = sources.dataframe[0].value
    categories = list(table["category"])  # the one pool record, then the slots kept for the best matches anywhere
    assert categories[0] == "pool" and 1 < len(categories) <= 5 and "pool" not in categories[1:]
    assert table["source"][0] == f"pool/{world.records['pool'][0]}"
    assert table["date"][0] == "" or table["date"][0].startswith("20")
    assert ollama.requests and ollama.requests[-1]["model"] == "qwen3:4b"


def test_flagging_a_wrong_category_stores_the_correction(ui_store, ollama, taxonomy, world) -> None:
    at = ask(world.question)
    fountain = taxonomy.find("fountain")
    at.selectbox(key="fix-0").set_value(fountain.code).run()
    at.button(key="save-0").click().run()
    assert not at.exception, at.exception
    [row] = FeedbackStore(Settings.load().feedback_db).list()
    assert (row.question, row.predicted_code, row.corrected_code) == (world.question, taxonomy.find("pool").code,
                                                                      fountain.code)
    assert row.model_version == "default"  # the default head made the prediction
    assert f"Saved correction #{row.id}" in at.success[0].value
    assert tags(at)[0][0] == taxonomy.find("pool").code  # saving alone does not rerun the search


def test_rerun_with_corrected_category_changes_tag_path_and_answer(ui_store, ollama, taxonomy, world) -> None:
    at = ask(world.question)
    fountain = taxonomy.find("fountain")
    at.selectbox(key="fix-0").set_value(fountain.code).run()
    assert at.button(key="rerun-0").label == "Rerun with fountain"
    at.button(key="rerun-0").click().run()
    assert not at.exception, at.exception
    [(code, title)] = tags(at)
    assert code == fountain.code and "the classifier said pool" in title
    sources = at.expander[0]
    assert "override" in sources.caption[0].value and "fountain" in sources.caption[0].value
    assert set(sources.dataframe[0].value["category"]) == {"fountain"}
    assert len(at.chat_message) == 2  # the same turn, answered again
    assert world.answer not in " ".join(m.value for m in at.chat_message[1].markdown)
    assert ollama.requests[-1]["messages"][-1]["content"].count("fountain") > 0


def test_a_paraphrase_of_a_corrected_question_is_tagged_as_you_corrected_earlier(
    ui_store, ollama, taxonomy, world
) -> None:
    at = ask(world.question)
    fountain = taxonomy.find("fountain")
    at.selectbox(key="fix-0").set_value(fountain.code).run()
    at.button(key="save-0").click().run()
    assert not at.exception, at.exception
    at.chat_input[0].set_value("When did the pool pump get replaced?").run()
    assert not at.exception, at.exception
    (first, first_title), (code, title) = tags(at)
    assert (first, code) == (taxonomy.find("pool").code, fountain.code)
    assert "as you corrected earlier" not in first_title and title.startswith("as you corrected earlier")
    [pill] = [m.value for m in at.chat_message[2].markdown if "category-tag" in m.value]
    assert "✓ as you corrected earlier</span>" in pill  # readable without hovering


def test_generator_down_shows_one_line_error_and_still_the_sources(ui_store, monkeypatch, taxonomy, world) -> None:
    monkeypatch.setenv("HOUSEHOLD_OLLAMA_HOST", closed_url())
    at = ask(world.question)
    [error] = at.error
    assert "ollama serve" in error.value and "\n" not in error.value and "Traceback" not in error.value
    assert tags(at)[0][0] == taxonomy.find("pool").code
    assert len(at.expander[0].dataframe[0].value) >= 1
    assert not at.exception


def test_sidebar_names_models_store_and_generator_status(ui_store, ollama, world) -> None:
    at = open_page()
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "**Classifier:** `embedding · default`" in sidebar and "qwen3:4b" in sidebar  # the default head, no version yet
    assert f"**{ui_store['chunks']}** chunks from **{ui_store['sources']}** sources" in sidebar
    assert len(at.sidebar.dataframe[0].value) == len(world.records)
    assert "qwen3:4b ready" in at.sidebar.caption[0].value


def test_feedback_page_lists_and_deletes_corrections(ollama, taxonomy) -> None:
    feedback = FeedbackStore(Settings.load().feedback_db)
    pool, fountain, car = (taxonomy.find(n).code for n in ("pool", "fountain", "car"))
    first = feedback.add("is the fountain pump still under warranty?", pool, fountain, "embedding")
    second = feedback.add("when is the car registration due?", pool, car, "embedding")
    at = open_page()
    at.switch_page("pages/feedback.py").run()
    assert not at.exception, at.exception
    table = at.main.dataframe[0].value
    assert list(table["id"]) == [first, second]
    assert list(table["corrected"]) == ["fountain", "car"]
    at.selectbox(key="delete-id").set_value(first).run()
    at.button[0].click().run()
    assert [c.id for c in feedback.list()] == [second]
    assert f"Deleted correction #{first}" in at.success[0].value
    assert list(at.main.dataframe[0].value["id"]) == [second]
