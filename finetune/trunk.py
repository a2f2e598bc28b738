"""The frozen lower blocks of the model, run once: training then runs only the LoRA'd top blocks.

With LoRA on the last N of L blocks, the first L - N blocks never change, so their output for
a training question is the same in every epoch. Computing it once and feeding it to the top
blocks makes a step cost about N/L of a full forward pass, and the backward pass stops there
too. A batch is packed into one row, [prefix][question 1 + label][question 2 + label]..., whose
mask lets each question see the prefix and itself: the prefix is computed once per step and
never copied per question.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

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


class Trunk:
    def __init__(self, llm: LLMClassifier, start: int, examples: Sequence[Example], batch_size: int = 32) -> None:
        self.llm, self.start = llm, start
        index = {code: i for i, code in enumerate(llm.taxonomy.codes)}
        self.gold = {id(ex): index[ex.code] for ex in examples}
        decoder = llm._decoder()
        self.rows: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            prefix = torch.tensor([llm.prefix_ids], device=llm.device)
            self.prefix = decoder(input_ids=prefix, output_hidden_states=True).hidden_states[start][0]
            for i in range(0, len(examples), batch_size):
                batch = examples[i : i + batch_size]
                layout = llm.layout([ex.question for ex in batch], [[self.gold[id(ex)]] for ex in batch])
                hidden = decoder(**layout.inputs, output_hidden_states=True).hidden_states[start]
                for b, ex in enumerate(batch):
                    self.rows[id(ex)] = hidden[b, : layout.lengths[b]].clone()

    def log_likelihood(self, batch: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per question: summed log-probability of the gold label, and its number of tokens."""
        llm, p = self.llm, len(self.prefix)
        parts, positions, picks, sizes = [self.prefix], [torch.arange(p)], [], []
        offset = p
        for ex in batch:
            row, label = self.rows[id(ex)], llm.label_ids[self.gold[id(ex)]]
            n, m = len(row), len(label)
            parts.append(row)
            positions.append(torch.arange(n) + p)
            picks.extend((offset + n - m + t, token) for t, token in enumerate(label))
            sizes.append(m)
            offset += n
        allowed = torch.zeros(offset, offset, dtype=torch.bool)
        allowed[:p, :p] = torch.tril(torch.ones(p, p, dtype=torch.bool))
        start = p
        for part in parts[1:]:
            n = len(part)
            allowed[start : start + n, :p] = True
            allowed[start : start + n, start : start + n] = torch.tril(torch.ones(n, n, dtype=torch.bool))
            start += n
        device = self.prefix.device
        decoder = llm._decoder()
        with only_blocks(decoder, self.start):
            hidden = decoder(
                inputs_embeds=torch.cat(parts)[None],
                attention_mask=additive_mask(allowed[None], self.prefix.dtype).to(device),
                position_ids=torch.cat(positions)[None].to(device),
                use_cache=False,
            ).last_hidden_state[0]
        where, tokens = (torch.tensor(col, device=device) for col in zip(*picks))
        logp = torch.log_softmax(llm._head()(hidden[where]).float(), -1)
        picked = logp[torch.arange(len(picks), device=device), tokens]
        sizes_t = torch.tensor(sizes, device=device)
        owner = torch.repeat_interleave(torch.arange(len(batch), device=device), sizes_t)
        return torch.zeros(len(batch), device=device).index_add(0, owner, picked), sizes_t.float()
