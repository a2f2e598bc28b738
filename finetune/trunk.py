"""The frozen lower blocks of the model, run once: training then runs only the LoRA'd top blocks.

With LoRA on the last N of L blocks, the first L - N blocks never change, so their output for
a training question is the same in every epoch. Computing it once and feeding it to the top
blocks makes a step cost about N/L of a full forward pass, and the backward pass stops there
too. Each question is cached as the scorer lays it out (`LLMClassifier.layout`: the question,
then one branch per candidate label, tree-masked), and a batch is packed into one row,
[prefix][question 1 + branches][question 2 + branches]..., whose mask lets each question see
the prefix and itself: the prefix is computed once per step and never copied per question.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from classifier.dataset import Example
from classifier.llm import LLMClassifier, additive_mask


@contextmanager
def only_blocks(decoder: torch.nn.Module, start: int) -> Iterator[None]:
    """Temporarily make the decoder run its blocks from `start` on (inputs are block `start`'s input)."""
    blocks = decoder.layers
    decoder.layers = blocks[start:]
    try:
        yield
    finally:
        decoder.layers = blocks


@dataclass
class Row:
    """One question laid out for scoring, as block `start` sees it (positions count from the prefix's end)."""

    hidden: torch.Tensor  # [n, d]
    allowed: torch.Tensor  # [n, n] which of its own tokens each token attends to
    positions: torch.Tensor  # [n]
    picks: list[tuple[int, int, int]]  # (position in row, label token, candidate column)


class Trunk:
    """Cached lower-block activations of training questions, scored against `candidates` labels.

    `all_labels=False` caches only the gold label (the generative loss needs nothing else);
    `all_labels=True` caches every label, so a step yields the full score table the classifier
    takes its softmax over.
    """

    def __init__(
        self, llm: LLMClassifier, start: int, examples: Sequence[Example], all_labels: bool = False,
        batch_size: int = 32,
    ) -> None:
        self.llm, self.start = llm, start
        self.all_labels = all_labels
        self.index = {code: i for i, code in enumerate(llm.taxonomy.codes)}
        decoder = llm.decoder()
        past = len(llm.prefix_ids)
        self.rows: dict[int, Row] = {}
        with torch.no_grad():
            prefix = torch.tensor([llm.prefix_ids], device=llm.device)
            self.prefix = decoder(input_ids=prefix, output_hidden_states=True).hidden_states[start][0]
            for i in range(0, len(examples), batch_size):
                batch = examples[i : i + batch_size]
                layout = llm.layout([ex.question for ex in batch], [self.candidates(ex) for ex in batch])
                hidden = decoder(**layout.inputs, output_hidden_states=True).hidden_states[start]
                mask = layout.inputs["attention_mask"][:, 0, :, past:] == 0
                for b, ex in enumerate(batch):
                    n = layout.lengths[b]
                    picks = [(p, t, slot % layout.n_cands) for r, p, t, slot in layout.picks if r == b]
                    self.rows[id(ex)] = Row(
                        hidden[b, :n].clone(), mask[b, :n, :n].cpu(), layout.inputs["position_ids"][b, :n].cpu() - past,
                        picks,
                    )

    def candidates(self, example: Example) -> list[int]:
        return list(range(len(self.index))) if self.all_labels else [self.index[example.code]]

    def scores(self, batch: Sequence[Example]) -> torch.Tensor:
        """[B, C]: summed log-probability of each cached candidate label, C = 1 or every label."""
        llm, p = self.llm, len(self.prefix)
        rows = [self.rows[id(ex)] for ex in batch]
        total = p + sum(len(row.hidden) for row in rows)
        allowed = torch.zeros(total, total, dtype=torch.bool)
        allowed[:p, :p] = torch.tril(torch.ones(p, p, dtype=torch.bool))
        positions, picks, offset = [torch.arange(p)], [], p
        n_cands = len(self.candidates(batch[0]))
        for b, row in enumerate(rows):
            n = len(row.hidden)
            allowed[offset : offset + n, :p] = True
            allowed[offset : offset + n, offset : offset + n] = row.allowed
            positions.append(row.positions + p)
            picks.extend((offset + at, token, b * n_cands + col) for at, token, col in row.picks)
            offset += n
        device = self.prefix.device
        decoder = llm.decoder()
        with only_blocks(decoder, self.start):
            hidden = decoder(
                inputs_embeds=torch.cat([self.prefix, *(row.hidden for row in rows)])[None],
                attention_mask=additive_mask(allowed[None], self.prefix.dtype).to(device),
                position_ids=torch.cat(positions)[None].to(device),
                use_cache=False,
            ).last_hidden_state[0]
        where = sorted({at for at, _, _ in picks})
        row_of = {at: i for i, at in enumerate(where)}
        logp = torch.log_softmax(llm.head()(hidden[torch.tensor(where, device=device)]).float(), -1)
        at = torch.tensor([row_of[a] for a, _, _ in picks], device=device)
        _, tokens, slots = (torch.tensor(col, device=device) for col in zip(*picks))
        table = torch.zeros(len(batch) * n_cands, device=device).index_add(0, slots, logp[at, tokens])
        return table.view(len(batch), n_cands)
