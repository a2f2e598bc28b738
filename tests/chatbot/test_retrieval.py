"""Filtered retrieval and its widening policy, on a real Chroma store; BM25 fusion; the lexical index."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.retrieval import Retriever, fuse, source_name, tokenize


@pytest.fixture(scope="module")
def code(taxonomy):
    """Category codes by name, so the tests read like the taxonomy and survive a change of codes."""
    return lambda name: taxonomy.find(name).code


@pytest.fixture
def retriever(store_settings, store, router) -> Retriever:
    return Retriever(store_settings, store, router)


def names(hits) -> list[str]:
    return [source_name(h) for h in hits]


def test_confident_prediction_filters_by_its_category(retriever, predict, code) -> None:
    prediction = predict(code("pool"), code("fountain"), confidence=0.9)
    result = retriever.retrieve("when was the pump replaced?", prediction=prediction)
    assert (result.path, result.codes) == ("filtered", [code("pool")])
    assert {h.category for h in result.hits[:-1]} == {code("pool")}  # the last slot is the unfiltered search's
    assert names(result.hits)[0] == "pump-replacement.md"
    assert result.prediction is prediction


def test_low_confidence_widens_to_the_top_two_categories(retriever, predict, code) -> None:
    prediction = predict(code("pool"), code("fountain"), confidence=0.3)
    result = retriever.retrieve("when was the pump replaced?", prediction=prediction)
    assert (result.path, result.codes) == ("widened-2", [code("pool"), code("fountain")])
    assert {h.category for h in result.hits[:-1]} == {code("pool"), code("fountain")}


def test_empty_filtered_search_widens(retriever, predict, code) -> None:
    """Nothing is filed under gutters: the filtered search finds nothing and the next category is added."""
    prediction = predict(code("gutters"), code("pool"), confidence=0.95)
    result = retriever.retrieve("when was the pump replaced?", prediction=prediction)
    assert (result.path, result.codes) == ("widened-2", [code("gutters"), code("pool")])
    assert names(result.hits)[0] == "pump-replacement.md"


def test_too_few_hits_everywhere_ends_unfiltered(retriever, predict, code) -> None:
    """One fountain record is fewer than min_hits (2), and the next two categories are empty."""
    prediction = predict(code("fountain"), code("gutters"), code("fence"), confidence=0.9)
    result = retriever.retrieve("when was the fountain pump cleaned?", prediction=prediction)
    assert (result.path, result.codes) == ("unfiltered", None)
    assert len(result.hits) == 5 and len({h.category for h in result.hits}) >= 3
    assert names(result.hits)[0] == "fountain-pump.md"


def test_the_last_slot_goes_to_the_best_match_outside_the_filter(store_settings, store, router, predict, code) -> None:
    """Filtered to pool, the fountain's own record comes in through the slot kept for the unfiltered search,
    behind the pool records; with no slot the filter is strict. `max_distance` is relaxed so the pool
    filter stands for a question its records match only loosely, and even for a single hit."""
    prediction = predict(code("pool"), confidence=0.9)

    def hits(slots: int, k: int) -> list[str]:
        settings = store_settings.replace(outside_slots=slots, max_distance=2.0, min_hits=1)
        result = Retriever(settings, store, router).retrieve("when was the fountain pump cleaned?", k, prediction=prediction)
        assert (result.path, result.codes) == ("filtered", [code("pool")])
        return names(result.hits)

    strict = hits(0, 3)
    assert "fountain-pump.md" not in strict and set(strict) == {"pump-replacement.md", "chemical-log.md"}
    assert hits(1, 3) == [*strict, "fountain-pump.md"]
    assert hits(1, 2) == [strict[0], "fountain-pump.md"]
    assert hits(5, 2) == [strict[0], "fountain-pump.md"]  # one slot always stays with the filter
    assert hits(1, 1) == strict[:1]
    longer = store_settings.replace(top_k=1, outside_slots=1, max_distance=2.0, min_hits=1)  # 3 = three top_k lists
    pooled = Retriever(longer, store, router).retrieve("when was the fountain pump cleaned?", 3, prediction=prediction)
    assert names(pooled.hits)[:2] == [strict[0], "fountain-pump.md"]  # two slots of three: the same share


def test_too_distant_hits_widen(store_settings, store, router, predict, code) -> None:
    strict = Retriever(store_settings.replace(max_distance=0.05), store, router)
    result = strict.retrieve("when was the pump replaced?", prediction=predict(code("pool"), confidence=0.9))
    assert result.path == "unfiltered" and result.codes is None


def test_general_searches_everything(retriever, predict, code) -> None:
    prediction = predict(code("general"), confidence=0.99)
    result = retriever.retrieve("what's the number of the car shop?", prediction=prediction)
    assert (result.path, result.codes) == ("general", None)
    assert names(result.hits)[0] == "oil-change.md"


def test_widening_stops_at_the_catch_all_category(retriever, predict, code) -> None:
    prediction = predict(code("pool"), code("general"), confidence=0.3)
    assert retriever.retrieve("pump", prediction=prediction).path == "unfiltered"


def test_forced_category_overrides_the_prediction(retriever, predict, code) -> None:
    prediction = predict(code("pool"), confidence=0.99)
    result = retriever.retrieve("when was the pump replaced?", code=code("appliances"), prediction=prediction)
    assert (result.path, result.codes) == ("override", [code("appliances")])
    assert {h.category for h in result.hits} == {code("appliances")} and len(result.hits) == 2


def test_no_filter_searches_everything(retriever, predict, code) -> None:
    result = retriever.retrieve("pump", k=6, use_filter=False, prediction=predict(code("pool"), confidence=0.99))
    assert (result.path, result.codes) == ("no-filter", None)
    assert len(result.hits) == 6


def test_retrieve_classifies_the_question(retriever, code) -> None:
    result = retriever.retrieve("the swimming pool pump was replaced when?", k=2)
    assert result.prediction.code == code("pool")
    assert result.path in {"filtered", "widened-2", "widened-3"} and len(result.hits) == 2


def test_exact_tokens_are_found(retriever, predict, code) -> None:
    """A part number and a phone number: BM25 matches them exactly, wherever the vector search ranks them."""
    everything = dict(use_filter=False, prediction=predict(code("general"), confidence=0.99))
    assert names(retriever.retrieve("WB44T10011", k=1, **everything).hits) == ["oven-repair.md"]
    assert names(retriever.retrieve("who is 555-0199", k=1, **everything).hits) == ["oil-change.md"]


def test_every_hit_carries_the_store_distance(retriever, store) -> None:
    question = "which part number fixed the oven, WB44T10011?"
    dense = {h.id: h.distance for h in store.search(question, 10)}
    fused = retriever.search(question, 3, None)
    rows = {row[0]: row for row in retriever.lexical.search(question, 10)}
    alone = retriever.lexical_hits(question, [rows[h.id] for h in fused if h.id in rows])
    assert alone, "BM25 found some of the same chunks"
    for hit in fused:
        assert hit.distance == pytest.approx(dense[hit.id], abs=1e-4)
    by_id = {h.id: h for h in fused}
    for chunk_id, hit in alone.items():
        assert hit.distance == pytest.approx(dense[chunk_id], abs=1e-4)
        same = by_id[chunk_id]
        assert (hit.text, hit.source, hit.category) == (same.text, same.source, same.category)


def test_lexical_index_follows_the_store(settings, taxonomy, embedder, router, tmp_path: Path) -> None:
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    store = Store(settings, embedder)
    retriever = Retriever(settings, store, router)
    assert retriever.search("anything", 3, None) == []
    folder = tmp_path / "docs" / "pool"
    folder.mkdir(parents=True)
    (folder / "a.md").write_text("# Pool heater\n\nHeater model HX-2000 serviced.\n")
    ingest = Pipeline(settings, store, CategoryAssigner(settings, taxonomy))
    ingest.run([tmp_path / "docs"])
    assert retriever.lexical.search("zq-7741", 3) == []
    (folder / "b.md").write_text("# Pool cover\n\nCover serial ZQ-7741 ordered.\n")
    ingest.run([tmp_path / "docs"])
    assert [source_name(h) for h in retriever.search("zq-7741", 1, None)] == ["b.md"]
    assert retriever.lexical.search("zq-7741", 3, codes=[taxonomy.find("car").code]) == []
    (folder / "b.md").write_text("# Pool cover\n\nCover serial KT-1180 ordered.\n")  # same chunk count
    ingest.run([tmp_path / "docs"])
    assert retriever.lexical.search("zq-7741", 3) == []
    assert [source_name(h) for h in retriever.search("kt-1180", 1, None)] == ["b.md"]


def test_a_misspelt_word_finds_the_records_of_the_word_it_meant(retriever) -> None:
    """One edit away ("dishwahser", "ignitor") reads as the indexed word; short or unknown words are left out."""
    def found(question: str) -> list[str]:
        return [Path(meta.source).name for _, _, meta in retriever.lexical.search(question, 3)]

    assert found("dishwahser filter") == ["dishwasher.md", "chemical-log.md"]  # both hold "filter"
    assert found("which ignitor was fitted") == ["oven-repair.md"]
    assert found("zebra") == [] and found("ovn") == []


def test_tokenize_keeps_exact_tokens_whole_and_split() -> None:
    tokens = tokenize("What's the oven repair AD-55107? Call (512) 555-0199 on 2025-03-18, $2,380.00")
    for token in ("ad-55107", "ad", "55107", "555-0199", "0199", "2025-03-18", "2025", "2,380.00", "380", "oven"):
        assert token in tokens
    assert "s" not in tokens and "the" not in tokens and "what" not in tokens


def test_word_endings_are_folded_but_exact_tokens_are_not() -> None:
    assert tokenize("replaced the batteries") == tokenize("replace battery")
    assert tokenize("lighting") == tokenize("lights") and tokenize("glasses") == tokenize("glass")
    assert tokenize("SE-INV-10442 sheds") == ["se-inv-10442", "se", "inv", "10442", "shed"]


def test_irregular_past_forms_meet_their_verb_but_nouns_that_look_like_one_stay_nouns() -> None:
    assert tokenize("chimney swept, pipes froze, we paid") == tokenize("chimney sweep, pipe freezes, we pay")
    assert tokenize("bought a new saw") == ["buy", "new", "saw"]
    assert tokenize("led bulbs, flu shot") == ["led", "bulb", "flu", "shot"]


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    assert fuse([["a", "b", "c"], ["b", "d"]]) == ["b", "a", "d", "c"]
    assert fuse([["a"], []]) == ["a"]
