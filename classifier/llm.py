"""LLMClassifier: a causal LM (plus optional LoRA adapter) that scores every valid label.

The model never generates. For each question it computes log P(label tokens + end | prompt)
for every label in the taxonomy and returns the softmax over those sums. Labels may span
several tokens, so one forward pass per question scores them all: the row is
`[question][label 1 tokens][label 2 tokens]...` with a tree-shaped attention mask (each label
sees the question and itself, never another label; `Layout` records which position predicts
which label token). The fixed prompt prefix is run once and its KV cache shared by every
question, so a question costs only its own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import DynamicCache

from classifier.prediction import Prediction, clean_question
from classifier.prompt import Prompt, build_prompt
from household.settings import Settings
from household.taxonomy import Taxonomy

PrefixKV = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Layout:
    """One scoring pass: model inputs, and which (row, position) predicts which label token."""

    inputs: dict[str, Any]
    picks: list[tuple[int, int, int, int]]  # (row, position, token, row * n_cands + candidate)
    n_rows: int
    n_cands: int
    lengths: list[int]


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, Q, K] booleans -> the [B, 1, Q, K] additive float mask attention layers take as-is."""
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


class LLMClassifier:
    name = "llm"
    version = ""
    temperature = 1.0

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        taxonomy: Taxonomy,
        label_mode: str = "code",
        max_chars: int = 1000,
        batch_size: int = 16,
        prompt_style: str = "full",
    ) -> None:
        self.model, self.tokenizer, self.taxonomy = model, tokenizer, taxonomy
        self.label_mode, self.max_chars, self.batch_size = label_mode, max_chars, batch_size
        self.prompt_style = prompt_style
        self.prompt: Prompt = build_prompt(taxonomy, tokenizer, label_mode, prompt_style)
        self.prefix_ids = self._ids(self.prompt.prefix)
        self.suffix_ids = self._ids(self.prompt.suffix)
        self.label_ids = [self._ids(label + self.prompt.end) for label in self.prompt.labels]
        self._prefix_kv: PrefixKV | None = None

    @classmethod
    def load(
        cls,
        base_model: str,
        settings: Settings,
        taxonomy: Taxonomy,
        adapter: Path | None = None,
        label_mode: str = "code",
        prompt_style: str = "full",
    ) -> "LLMClassifier":
        """`base_model` (a model spec, see household/models.py), with the LoRA adapter in `adapter` if given."""
        from household.models import load_causal_lm

        model, tokenizer = load_causal_lm(base_model, settings.cache_dir)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter)).eval()
        return cls(
            model, tokenizer, taxonomy, label_mode, settings.max_question_chars, settings.batch_size, prompt_style
        )

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def reset_prefix_cache(self) -> None:
        """Forget the cached prefix; call after the weights change (training steps)."""
        self._prefix_kv = None

    def prefix_kv(self) -> PrefixKV:
        """Keys and values of the fixed prompt prefix, with gradients when training."""
        ids = torch.tensor([self.prefix_ids], device=self.device)
        out = self.decoder()(input_ids=ids, use_cache=True)
        return [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def decoder(self) -> Any:
        """The transformer body without the LM head (LoRA layers, if any, live inside it)."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base.get_decoder()

    def head(self) -> Any:
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base.get_output_embeddings()

    def _cached_prefix(self) -> PrefixKV:
        if self._prefix_kv is None:
            with torch.no_grad():
                self._prefix_kv = self.prefix_kv()
        return self._prefix_kv

    def question_ids(self, questions: Sequence[str]) -> list[list[int]]:
        return [self._ids(clean_question(q, self.max_chars)) + self.suffix_ids for q in questions]

    def score(
        self,
        questions: Sequence[str],
        candidates: Sequence[Sequence[int]] | None = None,
        prefix: PrefixKV | None | bool = True,
    ) -> torch.Tensor:
        """Summed log-probabilities [B, C] of each question's candidate labels (label indices).

        `candidates=None` scores every label. `prefix=True` uses the cached prefix; a PrefixKV
        uses that one (training passes a fresh one that carries gradients); False runs the
        prefix inside every row (the uncached baseline, and gradient checkpointing).
        """
        layout = self.layout(questions, candidates, prefix)
        hidden = self.decoder()(**layout.inputs).last_hidden_state
        return self.gather(hidden, layout)

    def layout(
        self,
        questions: Sequence[str],
        candidates: Sequence[Sequence[int]] | None = None,
        prefix: PrefixKV | None | bool = True,
    ) -> "Layout":
        """Token rows, positions and a tree-shaped attention mask for one scoring pass.

        Each row is [question span][branch of label 1][branch of label 2]...: every branch sees
        the prefix and the question but not the other branches, so all labels are scored in a
        single forward pass, and the question's tokens are computed once, not once per label.
        """
        n_labels = len(self.label_ids)
        cands = [list(range(n_labels))] * len(questions) if candidates is None else [list(c) for c in candidates]
        n_cands = len(cands[0])
        if any(len(c) != n_cands for c in cands):
            raise ValueError("every question needs the same number of candidates")
        kv = self._cached_prefix() if prefix is True else (prefix or None)
        head = [] if kv is not None else self.prefix_ids
        spans = [head + q for q in self.question_ids(questions)]
        branches = [[self.label_ids[c][:-1] for c in cs] for cs in cands]
        rows = [span + [t for br in brs for t in br] for span, brs in zip(spans, branches)]
        width = max(len(r) for r in rows)
        past = len(self.prefix_ids) if kv is not None else 0
        device, dtype = self.device, self.model.dtype
        pad = self.tokenizer.pad_token_id

        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        allowed = torch.zeros((len(rows), width, past + width), dtype=torch.bool)
        allowed[:, :, :past] = True
        # Only the positions that predict a label token go through the LM head: (row, position, token, slot).
        picks: list[tuple[int, int, int, int]] = []
        for b, (span, brs) in enumerate(zip(spans, branches)):
            n = len(span)
            ids[b, : len(rows[b])] = torch.tensor(rows[b])
            positions[b, :n] = torch.arange(n) + past
            allowed[b, :n, past : past + n] = torch.tril(torch.ones(n, n, dtype=torch.bool))
            start = n
            for j, (c, br) in enumerate(zip(cands[b], brs)):
                k = len(br)
                slot = b * n_cands + j
                tokens = self.label_ids[c]
                picks.append((b, n - 1, tokens[0], slot))
                picks.extend((b, start + t, tokens[t + 1], slot) for t in range(k))
                positions[b, start : start + k] = torch.arange(k) + past + n
                allowed[b, start : start + k, past : past + n] = True
                allowed[b, start : start + k, past + start : past + start + k] = torch.tril(
                    torch.ones(k, k, dtype=torch.bool)
                )
                start += k
            allowed[b, start:, 0] = True  # padding rows look at one key so softmax stays finite
        inputs: dict[str, Any] = {
            "input_ids": ids.to(device),
            "attention_mask": additive_mask(allowed, dtype).to(device),
            "position_ids": positions.to(device),
            "use_cache": kv is not None,
        }
        if kv is not None:
            layers = [(k.expand(len(rows), -1, -1, -1), v.expand(len(rows), -1, -1, -1)) for k, v in kv]
            inputs["past_key_values"] = DynamicCache(layers, config=self.model.config)
        return Layout(inputs, picks, len(cands), n_cands, [len(r) for r in rows])

    def gather(self, hidden: torch.Tensor, layout: "Layout") -> torch.Tensor:
        """Sum the log-probabilities of the picked label tokens into a [B, C] table."""
        picks, device = layout.picks, hidden.device
        places = {place: i for i, place in enumerate(dict.fromkeys((r, p) for r, p, _, _ in picks))}
        rows_, pos_ = (torch.tensor(col, device=device) for col in zip(*places))
        logp = torch.log_softmax(self.head()(hidden[rows_, pos_]).float(), -1)
        at = torch.tensor([places[(r, p)] for r, p, _, _ in picks], device=device)
        tokens_, slots_ = (torch.tensor(col, device=device) for col in list(zip(*picks))[2:])
        total = torch.zeros(layout.n_rows * layout.n_cands, device=device)
        return total.index_add(0, slots_, logp[at, tokens_]).view(layout.n_rows, layout.n_cands)

    def classify(self, question: str) -> Prediction:
        return self.classify_many([question])[0]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        """Batch questions of similar length together; return predictions in input order."""
        order = sorted(range(len(questions)), key=lambda i: len(str(questions[i])))
        results: dict[int, Prediction] = {}
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                scores = self.score([questions[i] for i in idx])
                for i, row in zip(idx, scores.tolist()):
                    results[i] = Prediction.from_scores(row, self.taxonomy, self.version, self.temperature)
        return [results[i] for i in range(len(questions))]

