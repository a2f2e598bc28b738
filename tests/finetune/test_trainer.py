"""A few LoRA steps on the tiny model: the loss falls, and the saved adapter changes predictions."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from peft import PeftModel

from classifier.dataset import load_examples, split
from classifier.llm import LLMClassifier
from finetune.trainer import FinetuneConfig, train

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("objective", ["generative", "discriminative"])
def test_lora_steps_lower_the_loss_and_the_adapter_round_trips(tiny_lm, taxonomy, small_questions, tmp_path: Path,
                                                               objective: str):
    model, tokenizer = tiny_lm
    pool, car = taxonomy.find("pool").code, taxonomy.find("car").code
    examples = [ex for ex in split(load_examples(small_questions, taxonomy)).train if ex.code in (pool, car)]
    questions = [ex.question for ex in examples]
    llm = LLMClassifier(copy.deepcopy(model), tokenizer, taxonomy, prompt_style="compact")
    with torch.no_grad():
        base_scores = llm.score(questions)
    config = FinetuneConfig(epochs=3, batch_size=8, learning_rate=2e-2, patience=10, prompt_style="compact",
                            objective=objective)
    result = train(llm, examples, examples, config, progress=False)

    losses = [row["loss"] for row in result.history if "loss" in row]
    steps = -(-len(examples) // 8)
    assert len(losses) == 3 * steps
    assert sum(losses[-steps:]) < sum(losses[:steps])  # the last epoch's loss is below the first's
    assert 0 < result.trainable_params < result.total_params

    llm.model.save_pretrained(tmp_path / "adapter")
    loaded = LLMClassifier(
        PeftModel.from_pretrained(copy.deepcopy(model), str(tmp_path / "adapter")).eval(), tokenizer, taxonomy,
        prompt_style="compact",
    )
    with torch.no_grad():
        tuned_scores, loaded_scores = llm.score(questions), loaded.score(questions)
    assert torch.allclose(tuned_scores, loaded_scores, atol=1e-5)
    base_codes = [taxonomy.codes[i] for i in base_scores.argmax(-1).tolist()]
    tuned_codes = [p.code for p in loaded.classify_many(questions)]
    assert tuned_codes != base_codes and set(tuned_codes) <= {pool, car}
