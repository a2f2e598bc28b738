"""Time words in questions and dates in records, relative to a fixed `today`; time-aware retrieval on a real store."""

from __future__ import annotations

from datetime import date

import pytest

from chatbot.retrieval import Retriever
from chatbot.timeframe import TimeFrame, dates_in, parse
from storage.chunk import ChunkMeta
from storage.store import FileChunks, Store

TODAY = date(2026, 1, 15)


@pytest.mark.parametrize(
    ("question", "start", "end", "order"),
    [
        ("who serviced the AC last summer?", date(2025, 6, 1), date(2025, 8, 31), ""),
        ("what did the window washing cost this spring?", date(2026, 3, 1), date(2026, 5, 31), ""),
        ("what was the heating bill this winter?", date(2025, 12, 1), date(2026, 2, 28), ""),
        ("which tires did we buy in 2023?", date(2023, 1, 1), date(2023, 12, 31), ""),
        ("what was our electric bill last month?", date(2025, 12, 1), date(2025, 12, 31), ""),
        ("how much was the water bill last August?", date(2025, 8, 1), date(2025, 8, 31), ""),
        ("what was the gas bill this past December?", date(2025, 12, 1), date(2025, 12, 31), ""),
        ("who did the mosquito spray this past November?", date(2025, 11, 1), date(2025, 11, 30), ""),
        ("the pH at the test in mid-July 2025", date(2025, 7, 1), date(2025, 7, 31), ""),
        ("the last service on the Odyssey before 2025", None, date(2024, 12, 31), "latest"),
        ("when did we last flush the water heater?", None, None, "latest"),
        ("what was the most recent tree work?", None, None, "latest"),
        ("when is the kids' next dentist appointment?", None, None, "next"),
        ("what was the first service in our records?", None, None, "earliest"),
        ("may we use the pool heater?", None, None, ""),
        ("what was wrong with the downspout in November?", None, None, ""),
        ("what did the mosquito tech find this June?", date(2026, 6, 1), date(2026, 6, 30), ""),
    ],
)
def test_questions_name_periods_and_orders(question, start, end, order) -> None:
    assert parse(question, TODAY) == TimeFrame(TODAY, start, end, order)


def test_last_season_is_the_one_that_has_ended() -> None:
    assert parse("what broke last summer?", date(2025, 7, 10)).start == date(2024, 6, 1)
    assert parse("what broke last summer?", date(2025, 9, 10)).start == date(2025, 6, 1)


def test_before_we_moved_in_needs_the_move_in_date() -> None:
    assert not parse("what did the inspector find before we moved in?", TODAY).active
    frame = parse("what did the inspector find before we moved in?", TODAY, moved_in=date(2023, 6, 1))
    assert (frame.start, frame.end) == (None, date(2023, 5, 31))


def test_dates_in_records() -> None:
    text = "2024-03-21 full service; bill for 2024-07; March 5, 2025; 3/25/2025; Jan 2023; 2025-13-45"
    assert sorted(dates_in(text)) == [
        (date(2023, 1, 1), date(2023, 1, 31)), (date(2024, 3, 21), date(2024, 3, 21)),
        (date(2024, 7, 1), date(2024, 7, 31)), (date(2025, 3, 5), date(2025, 3, 5)),
        (date(2025, 3, 25), date(2025, 3, 25)),
    ]


def test_latest_ignores_what_has_not_happened_yet_and_next_what_has() -> None:
    spans = [(date(2025, 3, 1),) * 2, (date(2025, 11, 2),) * 2, (date(2026, 3, 9),) * 2]
    assert TimeFrame(TODAY, order="latest").key(spans) == date(2025, 11, 2)
    assert TimeFrame(TODAY, order="next").key(spans) == date(2026, 3, 9)
    assert TimeFrame(TODAY, order="earliest").key(spans) == date(2025, 3, 1)
    assert TimeFrame(TODAY, end=date(2025, 6, 30), order="latest").key(spans) == date(2025, 3, 1)


LOG = {  # a water-heater log of three dated entries and an undated note, all one category
    "flush-2023.md": "Water heater flushed 2023-11-14: a little sediment, anode fine.",
    "flush-2024.md": "Water heater flushed 2024-11-20: more sediment, replaced the anode rod.",
    "flush-2025.md": "Water heater flushed 2025-11-29: clear water, anode fine.",
    "notes.md": "Water heater notes: flush it every year, the drain valve sticks.",
}


@pytest.fixture(scope="module")
def log_store(tmp_path_factory, embedder, taxonomy, model_cache) -> Store:
    from household.settings import Settings

    data_dir = tmp_path_factory.mktemp("time-store")
    store = Store(Settings(data_dir=data_dir), embedder)
    code = taxonomy.find("water heater").code
    files = []
    for name, text in LOG.items():
        meta = ChunkMeta(
            source=f"/h/{name}", file=f"/h/{name}", format="md", content_hash="0" * 64, chunk_index=0,
            file_chunks=1, category=code, category_confidence=1.0, category_origin="flag",
            ingested_at="2026-01-01T00:00:00+00:00",
        )
        files.append(FileChunks(f"/h/{name}", [], [name], [text], [meta], store.embed([text])))
    store.write_files(files)
    return store


@pytest.fixture
def log_retriever(log_store, router) -> Retriever:
    return Retriever(log_store.settings, log_store, router)


def sources(retrieval) -> list[str]:
    return [h.source.rsplit("/", 1)[-1] for h in retrieval.hits]


def test_latest_ranks_the_newest_of_three_dated_entries_first(log_retriever, predict, taxonomy) -> None:
    prediction = predict(taxonomy.find("water heater").code, confidence=0.95)
    question = "when did we last flush the water heater?"
    result = log_retriever.retrieve(question, k=4, prediction=prediction, today=date(2026, 2, 1))
    assert result.frame is not None and result.frame.order == "latest"
    assert sources(result)[0] == "flush-2025.md"
    before = log_retriever.retrieve(question, k=4, prediction=prediction, today=date(2025, 6, 1))
    assert sources(before)[0] == "flush-2024.md"  # the 2025 flush had not happened yet


def test_a_time_filter_keeps_undated_chunks(log_retriever, predict, taxonomy) -> None:
    prediction = predict(taxonomy.find("water heater").code, confidence=0.95)
    result = log_retriever.retrieve("what happened with the water heater in 2024?", k=4, prediction=prediction,
                                    today=date(2026, 2, 1))
    assert (result.frame.start, result.frame.end) == (date(2024, 1, 1), date(2024, 12, 31))
    found = sources(result)
    assert found[0] == "flush-2024.md" and "notes.md" in found
    assert found.index("notes.md") < found.index("flush-2023.md") and found.index("notes.md") < found.index("flush-2025.md")
    assert sorted(found) == sorted(LOG)  # moved down, never dropped
    untimed = log_retriever.retrieve("what happened with the water heater in 2024?", k=4, prediction=prediction,
                                     time_aware=False)
    assert untimed.frame is None and sorted(sources(untimed)) == sorted(LOG)
