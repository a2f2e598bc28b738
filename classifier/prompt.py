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
PROMPT_STYLES = ("full", "compact")


@dataclass(frozen=True)
class Prompt:
    prefix: str
    suffix: str
    labels: list[str]  # in taxonomy order
    end: str  # text that closes an answer, scored after each label

    def render(self, question: str, answer: str = "") -> str:
        """The whole text a generator sees (used by the seed-style generation baseline and export)."""
        return f"{self.prefix}{question}{self.suffix}{answer}"


def instructions(taxonomy: Taxonomy, label_mode: str, style: str = "full") -> str:
    """`full` lists every label with its scope note (what an un-tuned model needs); `compact`
    lists labels only (~150 tokens instead of ~700): a fine-tuned model has learned the scopes,
    and a short prefix makes every training step several times cheaper."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, not {style!r}")
    if label_mode == "code" and style == "compact":
        return "Classify the household question. Answer with the code only.\nCodes: " + ", ".join(
            f"{c.code}={c.name}" for c in taxonomy
        )
    if label_mode == "name" and style == "compact":
        return "Classify the household question. Answer with the category name only.\nCategories: " + ", ".join(
            taxonomy.names
        )
    if label_mode == "code":
        lines = [f"{c.code}: {c.name} - {c.scope}" for c in taxonomy]
        head = "Classify the household question into one category. Answer with the two-letter code only."
        return head + "\nCodes:\n" + "\n".join(lines)
    if label_mode == "name":
        lines = [f"{c.name}: {c.scope}" for c in taxonomy]
        head = "Classify the household question into one category. Answer with the category name only."
        return head + "\nCategories:\n" + "\n".join(lines)
    raise ValueError(f"label mode must be one of {LABEL_MODES}, not {label_mode!r}")


def build_prompt(taxonomy: Taxonomy, tokenizer: Any, label_mode: str = "code", style: str = "full") -> Prompt:
    system = instructions(taxonomy, label_mode, style)
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
