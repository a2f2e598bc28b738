"""The conversation so far: the last few turns a follow-up question can lean on.

A turn keeps what a follow-up needs: the question as asked, the query it was searched with (the
question made standalone), the category it was searched under and whether that category was
carried over from the turn before, the answer, and the evidence (the retrieved chunks). The UI
keeps one conversation per browser session, `household chat` one per run; the library takes it
as the optional `history` of `Assistant.retrieve` and `Assistant.answer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from chatbot.retrieval import Retrieval
    from storage.store import Hit

MAX_TURNS = 4  # older turns are dropped: a follow-up leans on the last one or two
CHARS_PER_TOKEN = 3  # a conservative estimate (English runs ~4 per token) where no tokenizer is at hand


def estimate_tokens(text: str) -> int:
    """Tokens `text` takes at most, roughly: used to keep earlier turns inside num_ctx without a tokenizer."""
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass(frozen=True)
class Exchange:
    """One finished turn of the conversation."""

    question: str
    code: str | None  # the category it was searched under (the user's correction wins)
    answer: str = ""
    hits: tuple["Hit", ...] = ()  # the evidence the answer was drawn from, best first
    query: str = ""  # what was searched: the question made standalone ("" = the question itself)
    carried: bool = False  # the category came from the turn before, not from this question

    @property
    def searched(self) -> str:
        return self.query or self.question

    @classmethod
    def of(cls, retrieval: "Retrieval", answer: str = "", code: str | None = None) -> "Exchange":
        """A finished turn from its retrieval; `code` is the category the user forced, if any."""
        follow_up = retrieval.follow_up
        carried = bool(follow_up and follow_up.carried and code is None)
        return cls(retrieval.question, code or retrieval.prediction.code, answer, tuple(retrieval.hits),
                   follow_up.query if follow_up else "", carried)


@dataclass
class Conversation:
    """The last `max_turns` exchanges, oldest first."""

    turns: list[Exchange] = field(default_factory=list)
    max_turns: int = MAX_TURNS

    def __post_init__(self) -> None:
        del self.turns[: -self.max_turns]

    def add(self, exchange: Exchange) -> None:
        self.turns.append(exchange)
        del self.turns[: -self.max_turns]

    def clear(self) -> None:
        self.turns.clear()

    @property
    def last(self) -> Exchange | None:
        return self.turns[-1] if self.turns else None

    def __bool__(self) -> bool:
        return bool(self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def fitting(self, budget: int, count: Callable[[str], int] = estimate_tokens) -> list[Exchange]:
        """The newest turns whose questions and answers fit in `budget` tokens together, oldest first.

        A turn goes in whole or not at all, newest first, so the prompt never overflows num_ctx
        (where Ollama would cut it silently, and lose the question at its end).
        """
        kept: list[Exchange] = []
        used = 0
        for turn in reversed(self.turns):
            used += count(turn_text(turn))
            if used > budget:
                break
            kept.append(turn)
        return kept[::-1]

    def prompt(self, question: str, budget: int, count: Callable[[str], int] = estimate_tokens) -> str:
        """`question` after the earlier turns that fit in `budget` tokens; the question alone when none fits."""
        earlier = self.fitting(budget - count(question) - count(EARLIER) - count(NOW), count)
        if not earlier:
            return question
        return EARLIER + "\n".join(turn_text(turn) for turn in earlier) + NOW + question


EARLIER = "Earlier in this conversation:\n"
NOW = "\n\nThe question now (it may refer to the earlier ones): "


def turn_text(turn: Exchange) -> str:
    return f"Q: {turn.question}\nA: {turn.answer or '(no answer)'}"


def prompt_budget(num_ctx: int, max_new_tokens: int, prompt: Sequence[str], count: Callable[[str], int]) -> int:
    """Tokens left for the question and the earlier turns once the rest of the prompt and the answer fit."""
    return max(0, num_ctx - max_new_tokens - sum(count(text) for text in prompt))
