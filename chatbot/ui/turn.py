"""One question of the chat and what happened to it, kept in st.session_state across reruns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from household.errors import HouseholdError

if TYPE_CHECKING:
    from chatbot.assistant import Assistant
    from storage.feedback import FeedbackStore
    from chatbot.retrieval import Retrieval
    from classifier.prediction import Prediction


@dataclass
class Turn:
    question: str
    retrieval: "Retrieval | None" = None
    predicted: "Prediction | None" = None  # the classifier's own verdict, kept when the user forces a category
    forced: str | None = None  # code the user reran the search with
    answer: str | None = None  # None until the answer has been streamed
    error: str | None = None  # one-line message when the search or the generator failed
    notice: str | None = None  # confirmation after a correction was saved

    @property
    def code(self) -> str | None:
        """The category the answer was searched under: the user's choice, else the classifier's."""
        return self.forced or (self.predicted.code if self.predicted else None)


def ask(assistant: "Assistant", question: str) -> Turn:
    """Classify and search; a failure becomes the turn's error message instead of an exception."""
    try:
        retrieval = assistant.retrieve(question)
    except HouseholdError as exc:
        return Turn(question, error=str(exc))
    return Turn(question, retrieval, retrieval.prediction)


def rerun(assistant: "Assistant", turn: Turn, code: str) -> None:
    """Search again under `code` and clear the answer so the page streams a fresh one."""
    try:
        turn.retrieval = assistant.retrieve(turn.question, code=code)
    except HouseholdError as exc:
        turn.error = str(exc)
        return
    turn.forced, turn.answer, turn.error = code, None, None


def save_correction(feedback: "FeedbackStore", assistant: "Assistant", turn: Turn, code: str) -> int:
    """Store (question, predicted, corrected, model version) for the next fine-tune; returns the row id."""
    if turn.predicted is None:
        raise ValueError("a turn without a classification cannot be corrected")
    return feedback.add(turn.question, turn.predicted.code, code, assistant.model_version())
