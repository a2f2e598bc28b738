"""The seed write-up's way to classify: let the model write its answer, then parse a label out of it.

A baseline only. The model may write anything, so an answer holding no valid code (or name)
counts as invalid: `Prediction.code` is "" and the raw text is kept in `Prediction.text` for the report.
The product's `LLMClassifier` scores the valid labels instead and can never answer off the list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from classifier.prediction import Prediction, clean_question
from classifier.prompt import build_prompt
from household.taxonomy import Taxonomy

INVALID = ""


class GenerativeClassifier:
    """Greedy generation of a few tokens after the classification prompt, then parsing."""

    temperature = 1.0  # nothing to scale: a generated answer has no scores

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        taxonomy: Taxonomy,
        label_mode: str = "code",
        max_chars: int = 1000,
        batch_size: int = 16,
        max_new_tokens: int = 8,
    ) -> None:
        self.model, self.tokenizer, self.taxonomy = model, tokenizer, taxonomy
        self.label_mode, self.max_chars, self.batch_size = label_mode, max_chars, batch_size
        self.max_new_tokens = max_new_tokens
        self.prompt = build_prompt(taxonomy, tokenizer, label_mode)
        self.name = f"generate-{label_mode}"
        self.version = "base"
        self.prefix_ids, self.suffix_ids = self._ids(self.prompt.prefix), self._ids(self.prompt.suffix)
        self._prefix: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def parse(self, text: str) -> str | None:
        """The code of the first valid label in `text`, or None when there is none."""
        return parse_label(text, self.taxonomy, self.label_mode)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _prefix_cache(self, batch: int) -> DynamicCache:
        """The fixed prompt prefix's keys and values, run once and copied for each batch of questions."""
        if self._prefix is None:
            ids = torch.tensor([self.prefix_ids], device=self.device)
            with torch.no_grad():
                out = self.model(input_ids=ids, use_cache=True)
            self._prefix = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        layers = [(k.expand(batch, -1, -1, -1).clone(), v.expand(batch, -1, -1, -1).clone()) for k, v in self._prefix]
        return DynamicCache(layers, config=self.model.config)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def generate(self, questions: Sequence[str]) -> list[str]:
        """Greedy answers, decoded without special tokens, for a batch of questions.

        Every row is the cached prefix, padding, then the question and the start of the answer:
        the padding sits after the prefix (masked out), so one prefix cache serves the batch and a
        question costs only its own tokens.
        """
        rows = [self._ids(clean_question(q, self.max_chars)) + self.suffix_ids for q in questions]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        ids = torch.tensor([self.prefix_ids + [pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[1] * len(self.prefix_ids) + [0] * (width - len(r)) + [1] * len(r) for r in rows])
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                past_key_values=self._prefix_cache(len(rows)),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
        start = ids.shape[1]
        return [self.tokenizer.decode(row[start:], skip_special_tokens=True).strip() for row in out.tolist()]

    def classify(self, question: str) -> Prediction:
        return self.classify_many([question])[0]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        """One prediction per question; confidence 1 for a parsed label, an empty code when invalid."""
        predictions: list[Prediction] = []
        for start in range(0, len(questions), self.batch_size):
            batch = list(questions[start : start + self.batch_size])
            for text in self.generate(batch):
                code = self.parse(text)
                if code is None:
                    predictions.append(Prediction(INVALID, INVALID, 0.0, [], text=text, version=self.version))
                else:
                    name = self.taxonomy.by_code(code).name
                    predictions.append(Prediction(code, name, 1.0, [(code, 1.0)], text=text, version=self.version))
        return predictions


def parse_label(text: str, taxonomy: Taxonomy, label_mode: str = "code") -> str | None:
    """The code of the first label in `text`: codes as whole capitalised words, names as whole words.

    Names match case-insensitively with hyphens or underscores for spaces, longest name first; a
    fragment ("ac" for hvac) or an invented category is no label.
    """
    if label_mode == "code":
        found = re.search(_alternatives(taxonomy.codes), text)
        return found.group(0) if found else None
    names = sorted((name.lower() for name in taxonomy.names), key=len, reverse=True)
    found = re.search(_alternatives(names), text.lower().replace("-", " ").replace("_", " "))
    category = taxonomy.find(found.group(0)) if found else None
    return category.code if category else None


def _alternatives(labels: Sequence[str]) -> str:
    return r"(?<![A-Za-z])(?:" + "|".join(re.escape(label) for label in labels) + r")(?![A-Za-z])"
