"""The frozen-trunk training path must compute exactly what the scorer computes."""

import pytest
import torch

from classifier.dataset import Example
from classifier.llm import LLMClassifier
from finetune.trainer import FinetuneConfig, accuracy, attach_lora
from finetune.trunk import Trunk


def adapted(tiny_lm, taxonomy, seed: int) -> LLMClassifier:
    """The tiny model with LoRA on its top block and a non-trivial adapter, so that block really differs."""
    model, tokenizer = tiny_lm
    llm = LLMClassifier(model.__class__(model.config), tokenizer, taxonomy, prompt_style="compact")
    llm.model.load_state_dict(model.state_dict())
    attach_lora(llm, FinetuneConfig(top_layers=1))
    torch.manual_seed(seed)
    for name, param in llm.model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    llm.model.eval()
    return llm


@pytest.mark.parametrize("all_labels", [False, True], ids=["gold-label", "all-labels"])
def test_trunk_scores_equal_the_scorer_with_lora_on_top_blocks(tiny_lm, taxonomy, all_labels) -> None:
    llm = adapted(tiny_lm, taxonomy, seed=1)
    codes = taxonomy.codes
    batch = [
        Example("who cleaned the gutters last fall", codes[9], "a"),
        Example("pool pump humming", codes[14], "b"),
        Example("vet appt for the cat?", codes[18], "c"),
    ]
    trunk = Trunk(llm, start=1, examples=batch, all_labels=all_labels)
    candidates = None if all_labels else [[codes.index(ex.code)] for ex in batch]
    with torch.no_grad():
        packed = trunk.scores(batch)
        reference = llm.score([ex.question for ex in batch], candidates)
    assert packed.shape == (len(batch), len(codes) if all_labels else 1)
    assert torch.allclose(packed, reference, atol=1e-4)


def test_trunk_backward_reaches_only_top_block_adapters(tiny_lm, taxonomy) -> None:
    model, tokenizer = tiny_lm
    llm = LLMClassifier(model.__class__(model.config), tokenizer, taxonomy, prompt_style="compact")
    attach_lora(llm, FinetuneConfig(top_layers=1))
    batch = [Example("pool pump humming", taxonomy.codes[14], "b")]
    loss = -Trunk(llm, start=1, examples=batch).scores(batch).sum()
    loss.backward()
    grads = {n: p.grad for n, p in llm.model.named_parameters() if p.requires_grad}
    assert grads and all(".layers.1." in n for n in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads.values())
    with pytest.raises(KeyError):
        Trunk(llm, start=1, examples=batch).scores([Example("unseen", taxonomy.codes[0], "z")])


def test_validation_accuracy_through_the_trunk_equals_the_classifier(tiny_lm, taxonomy) -> None:
    llm = adapted(tiny_lm, taxonomy, seed=2)
    questions = ["who cleaned the gutters last fall", "pool pump humming", "vet appt for the cat?", "tires rotated?"]
    predicted = [p.code for p in llm.classify_many(questions)]
    examples = [Example(q, code, str(i)) for i, (q, code) in enumerate(zip(questions, predicted))]
    examples[0] = Example(examples[0].question, next(c for c in taxonomy.codes if c != predicted[0]), "0")
    trunk = Trunk(llm, start=1, examples=examples, all_labels=True)
    assert accuracy(llm, examples, trunk, batch_size=3) == accuracy(llm, examples) == 0.75
