"""Corrections take effect at once (real MiniLM): the paraphrase of a corrected question gets the corrected
category on the next call, an unrelated question keeps its answer; the held-out trial counts both."""

from __future__ import annotations

from chatbot.assistant import Assistant
from chatbot.correction_evaluation import evaluate_corrections
from classifier.heldout import HeldOutQuestion

QUESTION = "the stone steps down to the fountain are wobbling"
PARAPHRASE = "stone steps leading down to the fountain are loose"
UNRELATED = "when did we last change the oil in the car"


def test_a_correction_changes_the_next_answer_for_its_paraphrase_not_for_an_unrelated_question(
    settings, taxonomy, router
) -> None:
    assistant = Assistant(settings, taxonomy, classifier=router)
    medical = taxonomy.find("medical").code  # a category no classifier would give either question
    before, unrelated = assistant.classifier.classify(PARAPHRASE), assistant.classifier.classify(UNRELATED)
    assert before.code != medical and unrelated.code != medical

    assistant.correct(QUESTION, assistant.classifier.classify(QUESTION), medical)

    after = assistant.classifier.classify(PARAPHRASE)
    assert (after.code, after.origin, after.ranking[0][0]) == (medical, "correction", medical)
    assert settings.correction_similarity <= after.confidence < 1.0  # the similarity to the corrected question
    still = assistant.classifier.classify(UNRELATED)
    assert (still.code, still.origin, still.confidence) == (unrelated.code, "classifier", unrelated.confidence)
    assert assistant.feedback.corrections() == [(QUESTION, medical)]


def test_the_trial_counts_fixed_paraphrases_and_drops_elsewhere(settings, taxonomy, router) -> None:
    medical, car = taxonomy.find("medical").code, taxonomy.find("car").code
    rows = [
        HeldOutQuestion(QUESTION, medical, None, "t-1", "t", (PARAPHRASE, "the steps down to our fountain wobble")),
        HeldOutQuestion(UNRELATED, car, None, "t-2", "t", ("oil change on the car, when was it", "car oil last changed")),
    ]
    strict, loose = evaluate_corrections(settings, taxonomy, router, rows, thresholds=[0.99, 0.3])
    assert (strict.corrected, strict.paraphrases, strict.others) == (1, 2, 3)
    assert strict.paraphrases_right_before == strict.paraphrases_right_after == 0 and not strict.dropped
    assert loose.paraphrases_right_after == 2
    assert loose.others_right_before == 3 and not loose.dropped  # the car questions are far from the fountain
    assert settings.data_dir.joinpath("feedback.sqlite3").exists() is False  # the trial never touches real feedback
