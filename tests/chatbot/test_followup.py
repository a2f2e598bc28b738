"""Follow-up questions: detection, carry-over and topic switch on a real store, history within num_ctx."""

from __future__ import annotations

import json
import sqlite3

import pytest

from chatbot.assistant import Assistant
from chatbot.conversation import Conversation, Exchange, estimate_tokens, prompt_budget
from chatbot.followup import asks_own, is_follow_up, refers_back, retrieve, standalone_query
from chatbot.reader import Reader
from chatbot.retrieval import Retriever
from chatbot.ui.turn import Turn, save_correction
from storage.feedback import FeedbackStore


@pytest.mark.parametrize("question", [
    "Who did it?", "How much was that?", "And the gutters?", "What about the car?", "What time?",
    "When does its warranty run out?", "What's the serial number?", "And the deductible?",
])
def test_questions_that_lean_on_the_turn_before_are_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "When did we replace the pool pump?", "What's the model number of our dishwasher?",
    "How much did the oven repair cost?", "Which breaker feeds the pool pump?",
])
def test_questions_with_a_topic_of_their_own_stand_alone(question: str) -> None:
    assert not is_follow_up(question)


@pytest.mark.parametrize(("question", "own", "back"), [
    ("Who did it?", True, True), ("And the painter, when are they coming?", True, False),
    ("What about the pool pump?", False, False), ("And on weekends?", False, False),
    ("And that fence estimate, how long is it good for?", True, True),
    ("Does that come with any warranty?", True, True), ("And is it still covered?", True, True),
])
def test_a_follow_up_asks_its_own_after_the_ellipsis_and_its_pronoun_may_mean_what_it_names(
    question: str, own: bool, back: bool
) -> None:
    assert asks_own(question) is own and refers_back(question) is back


@pytest.fixture
def retriever(store_settings, store, router) -> Retriever:
    return Retriever(store_settings.replace(min_hits=1), store, router)


def _after(retriever: Retriever, first: str) -> Conversation:
    history = Conversation()
    history.add(Exchange.of(retrieve(retriever, first, history)))
    return history


def test_a_follow_up_carries_the_category_and_finds_the_same_record(retriever, taxonomy) -> None:
    history = _after(retriever, "When was the pool pump replaced?")
    pool = taxonomy.find("pool").code
    assert history.last.code == pool
    alone = retriever.retrieve("How much did it cost?")
    retrieval = retrieve(retriever, "How much did it cost?", history)
    assert retrieval.question == "How much did it cost?"
    assert retrieval.follow_up is not None and retrieval.follow_up.carried and not retrieval.follow_up.switched
    assert retrieval.prediction.code == pool and retrieval.codes and pool in retrieval.codes
    assert "$1,140" in retrieval.hits[0].text
    assert alone.prediction.code != pool or "$1,140" not in alone.hits[0].text  # alone it had nothing to go on


def test_a_topic_switch_moves_to_the_new_category(retriever, taxonomy) -> None:
    history = _after(retriever, "When was the pool pump replaced?")
    retrieval = retrieve(retriever, "And the fountain?", history)
    fountain = taxonomy.find("fountain").code
    assert retrieval.follow_up is not None and retrieval.follow_up.switched and not retrieval.follow_up.carried
    assert retrieval.prediction.code == fountain
    assert retrieval.hits[0].category == fountain and "fountain pump" in retrieval.hits[0].text


def test_a_switch_keeps_what_the_earlier_question_asked_for_though_it_names_a_thing(retriever, taxonomy) -> None:
    """"What pump does the pool have?" asks for a pump: "and the fountain?" wants the fountain's pump."""
    history = _after(retriever, "What pump does the pool have?")
    retrieval = retrieve(retriever, "And the fountain?", history)
    assert retrieval.follow_up is not None and retrieval.follow_up.switched
    assert retrieval.prediction.code == taxonomy.find("fountain").code
    assert "pump" in retrieval.follow_up.read_as and "pool" not in retrieval.follow_up.read_as


def test_an_ellipsis_that_names_what_its_pronoun_means_switches_and_is_read_as_asked(retriever, taxonomy) -> None:
    """In "and the fountain, when was its pump replaced?" "its" is the fountain's, not the pool pump's: a switch,
    read and searched as asked."""
    history = _after(retriever, "When was the pool pump replaced?")
    question = "And the fountain, when was its pump replaced?"
    retrieval = retrieve(retriever, question, history)
    assert retrieval.follow_up is not None and retrieval.follow_up.switched
    assert retrieval.prediction.code == taxonomy.find("fountain").code
    assert retrieval.follow_up.read_as == retrieval.follow_up.query == question


def test_an_ellipsis_naming_another_thing_of_the_category_is_read_with_the_earlier_ask(retriever) -> None:
    """"And the oven?" after the dishwasher's model number: carried (both appliances), but the reader is asked
    for the oven's model number, not the dishwasher's again."""
    history = _after(retriever, "What's the model number of our dishwasher?")
    follow_up = retrieve(retriever, "And the oven?", history).follow_up
    assert follow_up is not None and follow_up.carried
    assert "oven" in follow_up.read_as and "model number" in follow_up.read_as
    assert "dishwasher" not in follow_up.read_as


@pytest.mark.parametrize(("earlier", "question", "kept", "dropped"), [
    ("When was the Navien flush scheduled this year?", "Who was doing it?", ["this year"], []),
    ("When did Ziggy last see the vet?", "How much was that visit?", ["last"], []),
    ("What did the arborist do to the fir in 2024?", "And in 2023, who did it?", ["fir"], ["2024"]),
])
def test_a_follow_up_asking_its_own_keeps_the_earlier_time_unless_it_names_one(
    earlier: str, question: str, kept: list[str], dropped: list[str],
) -> None:
    """"Who was doing it?" after a question about this year's flush asks about this year's, not any year's."""
    read_as = standalone_query(question, [Exchange(earlier, "GI")], keep="topic")
    assert read_as.startswith(question)
    assert all(words in read_as for words in kept) and not any(words in read_as for words in dropped)


def test_a_question_with_its_own_topic_is_read_alone_despite_the_history(retriever, taxonomy) -> None:
    history = _after(retriever, "When was the pool pump replaced?")
    retrieval = retrieve(retriever, "What's the model number of our dishwasher?", history)
    assert retrieval.follow_up is None
    assert retrieval.prediction.code == taxonomy.find("appliances").code
    assert "SHPM65Z55N" in retrieval.hits[0].text


def test_earlier_turns_are_trimmed_newest_first_to_fit_the_context() -> None:
    turns = [Exchange(f"question {i}?", "OO", answer=f"answer {i} " + "word " * 200) for i in range(3)]
    history = Conversation(list(turns))
    one_turn = estimate_tokens(f"Q: {turns[0].question}\nA: {turns[0].answer}")
    budget = 2 * one_turn + estimate_tokens("Who did it?") + 60  # room for two turns, not three
    prompt = history.prompt("Who did it?", budget)
    assert "answer 2" in prompt and "answer 1" in prompt and "answer 0" not in prompt
    assert prompt.endswith("Who did it?") and estimate_tokens(prompt) <= budget + 4
    assert history.prompt("Who did it?", one_turn // 2) == "Who did it?"  # nothing fits: the question alone
    assert prompt_budget(8192, 256, ["x" * 3000], estimate_tokens) == 8192 - 256 - 1001


def test_a_conversation_keeps_only_its_last_turns() -> None:
    history = Conversation(max_turns=2)
    for i in range(4):
        history.add(Exchange(f"q{i}", None))
    assert [t.question for t in history.turns] == ["q2", "q3"]
    history.clear()
    assert not history and history.last is None


def test_a_correction_on_a_follow_up_is_stored_with_its_context(settings, taxonomy, store, router) -> None:
    assistant = Assistant(settings.replace(min_hits=1), taxonomy, classifier=router, store=store)
    history = Conversation()
    history.add(Exchange.of(assistant.retrieve("When was the pool pump replaced?")))
    retrieval = assistant.retrieve("How much did it cost?", history=history)
    turn = Turn("How much did it cost?", retrieval, retrieval.prediction)
    appliances = taxonomy.find("appliances").code
    save_correction(assistant, turn, appliances)
    [row] = FeedbackStore(settings.feedback_db).list()
    assert (row.question, row.predicted_code, row.corrected_code) == (
        "How much did it cost?", taxonomy.find("pool").code, appliances)
    context = json.loads(row.context)
    assert context["previous"] == "When was the pool pump replaced?" and context["carried"] is True
    assert "pool pump" in context["query"]


def test_the_reader_lowers_its_threshold_for_follow_ups_only(settings, taxonomy, store, router, embedder) -> None:
    """follow_up_margin applies to a question read in its conversation, never to the same question alone."""
    reader = Reader.from_settings(settings, embedder)
    assistant = Assistant(settings.replace(min_hits=1, follow_up_margin=1000.0), taxonomy, classifier=router,
                          store=store, generator=reader)
    question = "And its Netflix password?"
    assert assistant.answer(assistant.retrieve(question)).wait().abstained
    history = Conversation()
    history.add(Exchange.of(assistant.retrieve("When was the pool pump replaced?")))
    retrieval = assistant.retrieve(question, history=history)
    assert retrieval.follow_up is not None and not assistant.answer(retrieval, history).wait().abstained


def test_a_feedback_store_from_before_follow_ups_gains_the_column_and_keeps_its_rows(tmp_path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE corrections (id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, "
                   "predicted_code TEXT NOT NULL, corrected_code TEXT NOT NULL, created_at TEXT NOT NULL, "
                   "model_version TEXT NOT NULL)")
        db.execute("INSERT INTO corrections (question, predicted_code, corrected_code, created_at, model_version) "
                   "VALUES ('old one', 'OO', 'RH', '2026-01-01T00:00:00+00:00', 'v0001')")
    feedback = FeedbackStore(path)
    feedback.add("who did it?", "OO", "RH", "v0002", context='{"previous": "when was the pump replaced?"}')
    old, new = feedback.list()
    assert (old.question, old.context) == ("old one", None)
    assert json.loads(new.context)["previous"] == "when was the pump replaced?"
