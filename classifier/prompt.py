"""The classification prompt, split around the question so its fixed prefix can be cached.

The model's own chat template is rendered with a sentinel in place of the question and cut
there: `prefix` (instructions and the label list, identical for every question) and `suffix`
(end of the user turn and start of the answer). Labels are the opaque codes (`code` mode, the
seed's best variant) or the category names (`name` mode, for the comparison).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from household.taxonomy import Taxonomy

SENTINEL = "\u2063QUESTION\u2063"
LABEL_MODES = ("code", "name")


@dataclass(frozen=True)
class Prompt:
    prefix: str
    suffix: str
    labels: list[str]  # in taxonomy order
    end: str  # text that closes an answer, scored after each label

    def render(self, question: str, answer: str = "") -> str:
        """The whole text a generator sees (used by the seed-style generation baseline and export)."""
        return f"{self.prefix}{question}{self.suffix}{answer}"


def instructions(taxonomy: Taxonomy, label_mode: str) -> str:
    if label_mode == "code":
        lines = [f"{c.code}: {c.name} - {c.scope}" for c in taxonomy]
        head = "Classify the household question into one category. Answer with the two-letter code only."
        return head + "\nCodes:\n" + "\n".join(lines)
    if label_mode == "name":
        lines = [f"{c.name}: {c.scope}" for c in taxonomy]
        head = "Classify the household question into one category. Answer with the category name only."
        return head + "\nCategories:\n" + "\n".join(lines)
    raise ValueError(f"label mode must be one of {LABEL_MODES}, not {label_mode!r}")


def build_prompt(taxonomy: Taxonomy, tokenizer: Any, label_mode: str = "code") -> Prompt:
    system = instructions(taxonomy, label_mode)
    labels = taxonomy.codes if label_mode == "code" else taxonomy.names
    end = tokenizer.eos_token or "\n"
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": SENTINEL}]
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        prefix, suffix = text.split(SENTINEL)
    else:
        prefix, suffix = f"{system}\n\nQuestion: ", "\nAnswer: "
    return Prompt(prefix=prefix, suffix=suffix, labels=list(labels), end=end)
