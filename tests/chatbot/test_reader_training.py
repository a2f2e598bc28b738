"""The reader's evidence ranker: features that say what a unit holds, a model file with one reader and writer,
and `household train-reader` learning from a real store's questions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from chatbot.ranker import FEATURES, RankerModel, features, kinds_in, respell, wanted
from chatbot.reader import Reader, Unit
from chatbot.reader_training import Example, fit, score
from cli.main import main
from household.errors import DataError
from household.settings import REPO_ROOT, Settings


def _unit(text: str, rank: int = 1, when: str = "") -> Unit:
    return Unit(text, rank, "Service log", when, "Service log")


def _column(rows: np.ndarray, name: str) -> np.ndarray:
    return rows[:, FEATURES.index(name)]


def test_features_see_the_kind_of_fact_and_the_latest_entry(embedder) -> None:
    reader_units = [_unit("2023-05-02 AC tune-up by Polar Air, $119", when="2023-05-02"),
                    _unit("2025-05-12 AC tune-up by Polar Air, $129", when="2025-05-12"),
                    _unit("The thermostat is a Honeywell T6.")]
    rows = features("How much was the last AC tune-up?", reader_units, Reader(embedder, _model()).embed,
                    today=date(2026, 1, 1))
    assert list(_column(rows, "hard_missing")) == [0.0, 0.0, 1.0]  # "how much" wants an amount
    assert list(_column(rows, "ordered")) == [0.5, 1.0, 0.0]  # the newest first, the undated not at all
    assert _column(rows, "cos_unit")[1] > _column(rows, "cos_unit")[2]


def test_the_latest_entry_is_the_newest_about_the_questions_topic_not_about_its_other_words(embedder) -> None:
    reader_units = [_unit("date: 2025-04-03; vendor: Desert Oasis Pool; work: filter clean", when="2025-04-03"),
                    _unit("date: 2026-02-18; vendor: Desert Oasis Pool; work: pump check", when="2026-02-18"),
                    _unit("2026-06-02: breaker kept tripping, electrician came out", when="2026-06-02")]
    rows = features("when did the pool guy last come out", reader_units, Reader(embedder, _model()).embed,
                    today=date(2026, 7, 1))
    assert list(_column(rows, "ordered")) == [0.5, 1.0, 0.0]  # "came out" names no entry of the pool


@pytest.mark.parametrize(("typed", "spelt"), [
    ("fountian", "fountain"), ("algecide", "algaecide"), ("dishwaher", "dishwasher"), ("pediatritian", "pediatrician"),
])
def test_a_word_typed_with_one_slip_reads_as_the_records_word(typed: str, spelt: str, embedder) -> None:
    reader_units = [_unit(f"The {spelt} was serviced on 2025-05-02 for $80"), _unit("The gutters were cleaned")]
    embed = Reader(embedder, _model()).embed
    rows = features(f"how much was the {typed} service?", reader_units, embed)
    right = features(f"how much was the {spelt} service?", reader_units, embed)
    for name in ("lex_unit", "unit_topics", "missing_topics"):
        assert list(_column(rows, name)) == list(_column(right, name)), name
    assert respell(typed, {spelt}) == spelt


def test_what_about_leads_to_the_question_and_names_nothing_a_record_must_hold(embedder) -> None:
    reader_units = [_unit("Dryer vent cleaned by VentPro 2025-03-08"), _unit("Washer warranty until 2029-07-27")]
    embed = Reader(embedder, _model()).embed
    rows = features("What about the dryer vent, when was that done?", reader_units, embed)
    plain = features("The dryer vent, when was that done?", reader_units, embed)
    for name in ("lex_unit", "lex_section", "exact_unit", "slot_miss"):
        assert list(_column(rows, name)) == list(_column(plain, name)), name


def test_a_short_or_found_word_is_never_respelt() -> None:
    assert respell("mouse", {"house"}) == "mouse"  # too short to tell a slip from another word
    assert respell("termit", {"permit"}) == "termit"  # "termite" as tokenize folds it
    assert respell("lights", {"nights", "lights"}) == "lights"
    assert respell("fountian", {"mountain"}) == "fountian"  # two letters away


@pytest.mark.parametrize(("question", "kind"), [
    ("total for the fridge repair?", "amount"), ("the guy who fixed the fridge, what was his number?", "phone"),
    ("ring support case number", "code"), ("how long do the back lawn sprinklers run", "duration"),
])
def test_the_kind_of_fact_asked_for_is_seen_in_the_question_and_in_the_record(question: str, kind: str) -> None:
    record = {"amount": "TOTAL ...... $352.60", "phone": "Phone: (541) 555-0147", "code": "Subject: Case 55012947",
              "duration": "zone: 4; name: Back lawn; minutes: 30"}[kind]
    assert kind in wanted(question) and kind in kinds_in(record)
    assert "code" not in kinds_in("Paid $1,250,000.00 on 2025-06-14")  # an amount or a date is no identifier
    assert "code" in kinds_in("Health: Cascadia PPO, member ID CHP 66104829, group 55710")  # a comma ends it


@pytest.mark.parametrize(("question", "kinds"), [
    ("how much dog food does ziggy get", {"quantity"}), ("how much vinegar to flush the tankless", {"quantity"}),
    ("how much did the birch removal cost", {"amount"}), ("how much for the window cleaning?", {"amount"}),
    ("How much was the fence estimate?", {"amount"}),
])
def test_how_much_of_a_thing_asks_for_a_quantity_and_how_much_alone_for_money(question: str, kinds: set[str]) -> None:
    assert wanted(question) & {"amount", "quantity"} == kinds


@pytest.mark.parametrize(("question", "kinds"), [
    ("what part did they replace?", {"code"}), ("hot tub filter part #", {"code"}),
    ("How long is that part covered?", {"duration"}), ("What do we feed the sourdough starter?", set()),
    ("what was the late fee", {"amount"}), ("What did we buy at Costco most recently?", set()),
    ("When was the EV charger put in?", {"date"}), ("what did they charge", {"amount"}),
    ("What's the Pella claim number for the window?", {"code"}), ("model number of the AC unit", {"code"}),
    ("what is the number for the plumber", {"phone"}),
])
def test_a_word_asks_for_a_kind_only_where_it_asks(question: str, kinds: set[str]) -> None:
    """"that part" names a thing (how long is it covered?); "what part" asks for a part number. A feed is no fee,
    Costco no cost, a charger no charge; the claim number "for" a window is no phone number."""
    assert wanted(question) == kinds


def test_the_unit_is_read_under_its_heading(embedder) -> None:
    """The same line under two headings: the one whose heading the question names is the closer match."""
    rows = features("total for the fridge repair?", [Unit("Total: $352.60", 1, "", "", "Fridge repair invoice"),
                                                      Unit("Total: $352.60", 2, "", "", "Garage door opener invoice")],
                    Reader(embedder, _model()).embed)
    assert _column(rows, "cos_unit")[0] == pytest.approx(_column(rows, "cos_unit")[1])
    assert _column(rows, "cos_context")[0] > _column(rows, "cos_context")[1] + 0.1


def _model(threshold: float = 0.5, **weights: float) -> RankerModel:
    n = len(FEATURES)
    w = [weights.get(name, 0.0) for name in FEATURES]
    return RankerModel(FEATURES, (0.0,) * n, (1.0,) * n, tuple(w), 0.0, threshold, 0.0)


def _example(question: str, texts: list[str], lex: list[float], expected: list[str]) -> Example:
    rows = np.zeros((len(texts), len(FEATURES)))
    rows[:, FEATURES.index("lex_unit")] = lex
    return Example(question, [_unit(t, i + 1) for i, t in enumerate(texts)], rows, expected)


def test_fit_learns_which_feature_marks_the_answer_and_when_to_abstain() -> None:
    answerable = [_example(f"q{i}", [f"wrong {i}", f"right {i} $1{i}0", f"other {i}"], [0.2, 0.9, 0.1], [f"$1{i}0"])
                  for i in range(8)]
    unanswerable = [_example(f"u{i}", [f"noise {i}", f"more {i}"], [0.15, 0.1], []) for i in range(8)]
    model = fit(answerable + unanswerable)
    assert model.weights[FEATURES.index("lex_unit")] > 0
    assert score(model, answerable + unanswerable) == (1.0, 1.0)  # every answer right, every unanswerable abstained


def test_a_model_for_other_features_is_refused_with_the_command_to_retrain(tmp_path: Path) -> None:
    path = tmp_path / "ranker.json"
    _model().save(path)
    assert RankerModel.load(path) == _model()
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "features": raw["features"][:-1]}))
    with pytest.raises(DataError, match="train-reader"):
        RankerModel.load(path)


def test_train_reader_learns_from_a_household_and_the_reader_answers_with_it(corpus: Path, tmp_path: Path) -> None:
    household = tmp_path / "household"
    for path in corpus.rglob("*.md"):
        (household / path.relative_to(corpus)).parent.mkdir(parents=True, exist_ok=True)
        (household / path.relative_to(corpus)).write_text(path.read_text())
    rows = [("What part did the technician replace in the oven?", "appliances", "appliances/oven-repair.md", "WB44T10011"),
            ("how much was the pool pump", "pool", "pool/pump-replacement.md", "$1,140"),
            ("When was the Odyssey's oil changed?", "car", "car/oil-change.md", "2025-03-18"),
            ("what's the number for Main Street Auto", "car", "car/oil-change.md", "(512) 555-0199"),
            ("What model is the dishwasher?", "appliances", "appliances/dishwasher.md", "SHPM65Z55N")]
    (household / "qa.jsonl").write_text("".join(
        json.dumps({"question": q, "category": c, "doc": d, "answer_contains": [a]}) + "\n" for q, c, d, a in rows))
    (household / "unanswerable.jsonl").write_text(
        json.dumps({"question": "What is the wifi password?", "kind": "absent"}) + "\n")
    out = tmp_path / "ranker.json"
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "train-reader", str(household),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Trained on 6 questions from 1 households" in result.output
    model = RankerModel.load(out)
    assert model.trained_on["positives"] >= len(rows) and model.trained_on["sets"] == [str(household)]


def test_the_packaged_model_names_its_training_households_relative_to_the_checkout() -> None:
    model = RankerModel.load(Settings().reader_model)
    sets = model.trained_on["sets"]
    assert sets and all(not Path(s).is_absolute() and (REPO_ROOT / s / "qa.jsonl").exists() for s in sets)
