"""Reading a question in its conversation: is it a follow-up, which category, what to search for.

"Who did it?" after "When was the water heater last flushed?" carries no topic of its own: the
classifier guesses from two words and the search has nothing to search for. A follow-up is a
question that leans on the turn before: it opens with an ellipsis ("and the gutters?", "what
about the car?"), refers back (it, that, they, his...), or has no topic word of its own (or one
the classifier cannot place). It is then
  - classified in context: the previous turn's category is carried over, unless the question
    names a topic of its own (no reference back, and the classifier and the records those words
    find agree on another category): a switch, so "and the gutters?" after a tree question moves
    to gutters instead of staying stuck on trees;
  - searched with a standalone query: the question plus what the previous turns searched for, so
    "how much was that?" searches the pump replacement it refers to; a switch takes only the earlier
    ask ("and the fountain?" after "what pump does the pool have?"), or none when it asks its own
    ("and the painter, when are they coming?": "they" is the painter, named in the question).
A question that stands alone is classified and searched alone, exactly as without history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from chatbot.retrieval import tokenize
from chatbot.timeframe import time_words
from classifier.prediction import Prediction

if TYPE_CHECKING:
    from chatbot.conversation import Conversation, Exchange
    from chatbot.retrieval import Retrieval, Retriever

ELLIPSIS_RE = re.compile(r"^\s*(and|also|what about|how about|same for|ok(ay)?,? and)\b", re.I)
REFERENCE_WORDS = frozenset(
    "it its that those these they them their theirs he him his she her hers this there one ones "
    "everything anything something".split()
)
# Words that ask about any topic (price, date, who): a question made of these alone names no topic.
GENERIC_WORDS = frozenset(tokenize(
    "much cost costs charge charged price pay paid paying fee total bill invoice number phone call time times long "
    "often date day days week weekend weekends month year yearly again next before after previous first then still "
    "until under whole up out if am supposed doing install installed put fix fixed repair repaired replace replaced "
    "done job work company who whose which kind type brand model part warranty covered due start starting end "
    "ending expire expires run come off else also about same other any all many name called use used need get got "
    "keep kept serial deductible premium copay address email size color colour capacity"
))
_REFERENCE_TOKENS = frozenset(tokenize(" ".join(REFERENCE_WORDS))) | REFERENCE_WORDS
INTERROGATIVE_RE = re.compile(r"\b(who|whom|whose|what|when|where|which|why|how)\b", re.I)
YES_NO_RE = re.compile(r"^\W*(do|does|did|is|are|was|were|can|could|will|would|has|have|had|should)\b", re.I)
# Where the phrase after "what" or "which" ends: an auxiliary, an article or a possessive ("what pump | does").
PHRASE_ENDS = frozenset("is are was were do does did has have had can could will would should the a an our my your "
                        "their".split())
CONTEXT_TURNS = 2  # the standalone query takes the searched queries of this many earlier turns at most
EVIDENCE_HITS = 3  # records the topic words are looked up in, to see which category they belong to


@dataclass(frozen=True)
class FollowUp:
    """How a question was read against the turn before it; stored with a correction made on it."""

    previous: str  # the previous question, as asked
    previous_code: str | None  # the category the previous question was searched under
    query: str  # what was searched: the question made standalone
    carried: bool  # searched under the previous question's category
    switched: bool  # the question named a topic of its own in another category
    read_as: str = ""  # what the reader answers: its ask about the earlier topic, or the earlier ask about its own

    def as_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous, "previous_code": self.previous_code, "query": self.query,
            "carried": self.carried, "switched": self.switched, "read_as": self.read_as,
        }


@dataclass(frozen=True)
class Reading:
    """The outcome for one question: what to search, under which prediction, and the follow-up (if any)."""

    query: str
    prediction: Prediction
    follow_up: FollowUp | None


def topic_words(question: str) -> list[str]:
    """Words that could name a topic: the question's tokens less function words, references and generic asks."""
    return [t for t in tokenize(question) if t not in GENERIC_WORDS and t not in _REFERENCE_TOKENS]


def refers_back(question: str) -> bool:
    """Whether the question points at something said before (it, that, they, his...). In "and the painter,
    when are they coming?" the elliptic opening names what "they" are, so only that opening is looked at."""
    opener = ELLIPSIS_RE.match(question)
    named, comma, _ = question[opener.end():].partition(",") if opener else ("", "", "")
    if comma and topic_words(named):
        question = named
    return bool(set(re.findall(r"[a-z]+", question.lower())) & REFERENCE_WORDS)


def is_follow_up(question: str, confidence: float = 1.0, unsure_below: float = 0.5) -> bool:
    """Whether `question` leans on an earlier turn: an ellipsis opener, a reference back, no topic word
    of its own, or a single one that leaves the classifier unsure (`confidence` on the question alone)."""
    if ELLIPSIS_RE.match(question) or refers_back(question):
        return True
    words = len(topic_words(question))
    return words == 0 or (words == 1 and confidence < unsure_below)


def asks_own(question: str) -> bool:
    """Whether the question asks something of its own ("who did it?", "and the painter, when are they coming?",
    "does that come with a warranty?") rather than the earlier question's ask again ("and on weekends?", "what
    about the pool pump?")."""
    opener = ELLIPSIS_RE.match(question)
    rest = question[opener.end():] if opener else question
    return bool(INTERROGATIVE_RE.search(rest) or YES_NO_RE.match(rest))


def names_other(question: str) -> bool:
    """Whether an elliptic follow-up names a thing of its own ("and the outside AC unit?") instead of asking
    more about the earlier one ("and on weekends?", "and what did we pay for it?")."""
    return bool(ELLIPSIS_RE.match(question)) and not refers_back(question) and bool(topic_words(question))


class Resolver:
    """Reads each question against the conversation, with the retriever's classifier and records.

    A topic switch needs two witnesses that agree on the new category: the classifier on the
    question's topic words, and the categories of the records those words find (BM25). Their
    scores are averaged; the new category must take at least `switch_score` of it.
    """

    def __init__(self, retriever: "Retriever", switch_score: float = 0.5) -> None:
        self.retriever, self.classifier, self.switch_score = retriever, retriever.classifier, switch_score

    def read(self, question: str, history: "Conversation | None" = None, alone: Prediction | None = None) -> Reading:
        """The reading of `question`; `alone` is its own classification when the caller already has it."""
        previous = history.last if history else None
        if previous is None:
            return Reading(question, alone or self.classifier.classify(question), None)
        alone = alone or self.classifier.classify(question)
        if not is_follow_up(question, alone.confidence, self.retriever.settings.follow_up_confidence):
            return Reading(question, alone, None)
        topic = None if refers_back(question) else self.topic(question)
        taxonomy = self.classifier.taxonomy
        asks = asks_own(question)
        if topic is not None and topic[0] != previous.code:  # a switch: as sure as its two witnesses
            code, score = topic
            query = read_as = question if asks else standalone_query(question, [previous], keep="ask")
            prediction = ranked_first(code, alone, taxonomy.by_code(code).name, score)
        elif previous.code is not None:  # carried: as sure as the classifier is of it on the standalone query
            query = standalone_query(question, history.turns[-CONTEXT_TURNS:])
            if names_other(question):  # "and the outside AC unit?": the earlier ask about this topic
                read_as = question if asks else standalone_query(question, [previous], keep="ask")
            elif asks:
                read_as = standalone_query(question, history.turns[-CONTEXT_TURNS:], keep="topic")
            else:
                read_as = query
            code = previous.code
            prediction = ranked_first(code, self.classifier.classify(query), taxonomy.by_code(code).name)
        else:  # the turn before was never classified: nothing to carry
            return Reading(question, alone, None)
        switched = code != previous.code
        follow_up = FollowUp(previous.question, previous.code, query, not switched, switched, read_as)
        return Reading(query, prediction, follow_up)

    def topic(self, question: str) -> tuple[str, float] | None:
        """The category the question's own topic words name and its score, when classifier and records agree
        enough: the average of the classifier's probability and the share of the records found in it."""
        words = topic_words(question)
        if not words:
            return None
        text = " ".join(words)
        scores = dict(self.classifier.classify(text).ranking)
        found = self.retriever.lexical.search(text, EVIDENCE_HITS) if self.retriever.lexical else []
        for _, _, meta in found:
            scores[meta.category] = scores.get(meta.category, 0.0) + 1.0 / len(found)
        code, score = max(scores.items(), key=lambda kv: kv[1])
        score /= 2 if found else 1
        return (code, score) if score >= self.switch_score else None


def standalone_query(question: str, earlier: "list[Exchange]", keep: str = "all") -> str:
    """The question followed by what the earlier turns searched for, newest first, each word once.

    keep="ask" (a topic switch) keeps only what the earlier turns asked (how much, when, who), not
    their topic or dates: "and the fountain pump?" after "how much did the pool pump cost in 2024?"
    searches "how much did the cost" about the fountain pump, not the pool pump of 2024. keep="topic"
    keeps only their topic words and the time they name ("this year", "last"), for a follow-up that asks its own
    question ("who did it?"); a follow-up that names its own time ("and in 2023?") drops theirs.
    """
    seen: set[str] = set()
    parts = []
    own_time = bool(time_words(question))
    for index, text in enumerate([question] + [turn.searched for turn in reversed(earlier)]):
        if keep == "ask" and index:
            asked = asked_for(text)
            text = " ".join(w for w in text.split() if not topic_words(w) or _bare(w) in asked)
        elif keep == "topic" and index:
            times = time_words(text)
            text = " ".join(w for w in text.split() if (not own_time if _bare(w) in times else bool(topic_words(w))))
        words = [w for w in text.split() if _bare(w) not in seen]
        seen.update(map(_bare, words))
        if words:
            parts.append(" ".join(words))
    return " ".join(parts)


def _bare(word: str) -> str:
    return word.lower().strip("?.,!")


def asked_for(question: str) -> set[str]:
    """The words after the question's first interrogative when it is "what" or "which", up to an auxiliary, article
    or possessive, lower-cased: what it asks for, though they name a thing ("What pump does the pool have?" asks for a pump,
    about the pool)."""
    words = question.split()
    start = next((i for i, w in enumerate(words) if INTERROGATIVE_RE.match(w)), None)
    if start is None or words[start].lower() not in ("what", "which"):
        return set()
    phrase = set()
    for word in words[start + 1:]:
        if _bare(word) in PHRASE_ENDS or not word[-1].isalnum():
            break
        phrase.add(_bare(word))
    return phrase


def ranked_first(code: str, in_context: Prediction, name: str, confidence: float | None = None) -> Prediction:
    """`code` ranked first, the other codes in the classifier's order. Its confidence, unless given, is the
    probability the classifier gives it in `in_context`, so an unsure context still widens the search. A code
    other than `in_context`'s is the classifier's reading, not a remembered correction."""
    ranking = sorted(in_context.ranking, key=lambda kv: kv[0] != code)
    confidence = ranking[0][1] if confidence is None else confidence
    origin = in_context.origin if code == in_context.code else "classifier"
    return replace(in_context, code=code, category=name, confidence=confidence, ranking=ranking, origin=origin)


def retrieve(
    retriever: "Retriever", question: str, history: "Conversation | None" = None, k: int | None = None,
    code: str | None = None, use_filter: bool = True, alone: Prediction | None = None, today: date | None = None,
) -> "Retrieval":
    """Read `question` in its conversation, then search the standalone query; the Retrieval keeps the
    question as asked and, for a follow-up, how it was read."""
    reading = Resolver(retriever).read(question, history, alone)
    retrieval = retriever.retrieve(reading.query, k=k, code=code, use_filter=use_filter, prediction=reading.prediction,
                                   today=today)
    return replace(retrieval, question=question, follow_up=reading.follow_up)
