"""One question of the chat and what happened to it, kept in st.session_state across reruns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.conversation import Conversation, Exchange
from household.errors import HouseholdError

if TYPE_CHECKING:
    from chatbot.answer import Answer
    from chatbot.assistant import Assistant
    from chatbot.retrieval import Retrieval
    from classifier.prediction import Prediction


@dataclass
class Turn:
    question: str
    retrieval: "Retrieval | None" = None
    predicted: "Prediction | None" = None  # the classifier's own verdict, kept when the user forces a category
    forced: str | None = None  # code the user reran the search with
    answer: str | None = None  # None until the answer has been streamed
    checked: "Answer | None" = None  # the streamed answer with its evidence and unverified facts
    error: str | None = None  # one-line message when the search or the generator failed
    notice: str | None = None  # confirmation after a correction was saved

    @property
    def code(self) -> str | None:
        """The category the answer was searched under: the user's choice, else the classifier's."""
        return self.forced or (self.predicted.code if self.predicted else None)

    @property
    def carried(self) -> bool:
        """Searched under the previous question's category (a follow-up), not one of its own."""
        follow_up = self.retrieval.follow_up if self.retrieval else None
        return bool(follow_up and follow_up.carried and not self.forced)

    @property
    def remembered(self) -> bool:
        """Filed by an earlier correction of a near-identical question (classifier/corrected.py), not by the
        classifier, and neither forced nor carried, which the tag reports instead."""
        return bool(self.predicted and self.predicted.origin == "correction" and not self.forced and not self.carried)


def conversation(turns: "list[Turn]") -> Conversation:
    """The context the next question is read in: the turns that were searched, as the library keeps them."""
    return Conversation([Exchange.of(t.retrieval, t.answer or "", t.forced) for t in turns if t.retrieval])


def ask(assistant: "Assistant", question: str, history: Conversation | None = None) -> Turn:
    """Classify and search in the conversation so far; a failure becomes the turn's error message."""
    try:
        retrieval = assistant.retrieve(question, history=history)
    except HouseholdError as exc:
        return Turn(question, error=str(exc))
    return Turn(question, retrieval, retrieval.prediction)


def rerun(assistant: "Assistant", turn: Turn, code: str, history: Conversation | None = None) -> None:
    """Search again under `code` (a follow-up in the `history` it was asked in) and clear the answer."""
    try:
        turn.retrieval = assistant.retrieve(turn.question, code=code, history=history)
    except HouseholdError as exc:
        turn.error = str(exc)
        return
    turn.forced, turn.answer, turn.error = code, None, None


def save_correction(assistant: "Assistant", turn: Turn, code: str) -> int:
    """Store (question, predicted, corrected, the model that predicted) for the next fine-tune; returns the row id."""
    if turn.predicted is None:
        raise ValueError("a turn without a classification cannot be corrected")
    return assistant.correct(turn.question, turn.predicted, code, context_of(turn))


def context_of(turn: Turn) -> str:
    """The conversation a follow-up was read in, as stored with its correction (JSON); "" for a lone question."""
    follow_up = turn.retrieval.follow_up if turn.retrieval else None
    return json.dumps(follow_up.as_dict()) if follow_up else ""
