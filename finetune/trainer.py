"""LoRA training of the code scorer, early stopping on validation.

The training step uses the scorer itself (`LLMClassifier.score`, or the cached-trunk copy of
it), so training and inference see exactly the same prompt, tokens and positions. Two losses:
`generative` is the seed's, the log-likelihood of the gold label's tokens (answer tokens only);
`discriminative` is the cross-entropy of the classifier's own softmax over every label's score,
so it also pushes the wrong labels down, which is what the classifier is judged on. The fixed
prompt prefix is run once per batch (with gradients, since LoRA changes its keys and values)
and shared by every question in the batch.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from classifier.dataset import Example
from classifier.llm import LLMClassifier
from finetune.trunk import Trunk
from household.models import best_device

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class FinetuneConfig:
    """Everything that decides a run; saved as config.json next to the adapter it produced."""

    base_model: str = ""
    label_mode: str = "code"
    prompt_style: str = "compact"  # the fine-tuned model learns the scopes; see classifier/prompt.py
    objective: str = "discriminative"  # or "generative", the seed's (module docstring)
    label_smoothing: float = 0.0  # discriminative only
    rank: int = 16
    alpha: int | None = None  # None: 2 x rank
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ALL_PROJECTIONS
    top_layers: int | None = 10  # LoRA on the last N blocks only; the frozen trunk below runs once (finetune/trunk.py)
    learning_rate: float = 1e-3
    epochs: int = 8
    batch_size: int = 16
    warmup_ratio: float = 0.1
    patience: int = 3
    seed: int = 0
    gradient_checkpointing: bool = False
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        if self.alpha is None:
            self.alpha = 2 * self.rank


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    seconds: float = 0.0
    examples_per_second: float = 0.0


def attach_lora(llm: LLMClassifier, config: FinetuneConfig) -> None:
    """Wrap the classifier's model in a fresh LoRA adapter, in place."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        layers_to_transform=_top(llm.model, config.top_layers),
        task_type="CAUSAL_LM",
    )
    if config.gradient_checkpointing:
        llm.model.gradient_checkpointing_enable()
        llm.model.enable_input_require_grads()
    llm.model = get_peft_model(llm.model, lora)
    llm.reset_prefix_cache()


def _top(model: Any, n: int | None) -> list[int] | None:
    layers = model.config.num_hidden_layers
    return None if not n or n >= layers else list(range(layers - n, layers))


def batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of similar-length questions: less padding, same randomness across epochs."""
    order = list(examples)
    rng.shuffle(order)
    pool = size * 8
    out = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda ex: len(ex.question))
        out.extend(chunk[j : j + size] for j in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


def lr_at(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero: a multiplier of the peak learning rate."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def accuracy(llm: LLMClassifier, examples: list[Example], trunk: Trunk | None = None, batch_size: int = 16) -> float:
    """Share of `examples` whose best-scoring label is the gold one; through `trunk` if given
    (its examples laid out with every label: same scores, only the top blocks run)."""
    llm.model.eval()
    llm.reset_prefix_cache()
    if trunk is None:
        predictions = [p.code for p in llm.classify_many([ex.question for ex in examples])]
    else:
        with torch.no_grad():
            best = [i for start in range(0, len(examples), batch_size)
                    for i in trunk.scores(examples[start : start + batch_size]).argmax(-1).tolist()]
        predictions = [llm.taxonomy.codes[i] for i in best]
    return sum(code == ex.code for code, ex in zip(predictions, examples)) / max(1, len(examples))


def batch_loss(llm: LLMClassifier, trunk: Trunk | None, batch: list[Example], config: FinetuneConfig) -> torch.Tensor:
    """The training objective for one batch (see the module docstring)."""
    gold = [llm.taxonomy.codes.index(ex.code) for ex in batch]
    discriminative = config.objective == "discriminative"
    if trunk is not None:
        table = trunk.scores(batch)
    else:
        prefix = False if config.gradient_checkpointing else llm.prefix_kv()
        candidates = None if discriminative else [[g] for g in gold]
        table = llm.score([ex.question for ex in batch], candidates=candidates, prefix=prefix)
    if discriminative:
        target = torch.tensor(gold, device=table.device)
        return torch.nn.functional.cross_entropy(table, target, label_smoothing=config.label_smoothing)
    n_tokens = torch.tensor([len(llm.label_ids[g]) for g in gold], device=table.device)
    return -(table[:, 0] / n_tokens).mean()


def train(
    llm: LLMClassifier, train: list[Example], val: list[Example], config: FinetuneConfig, progress: bool = True
) -> TrainResult:
    """Fine-tune `llm` in place; its model ends as a PeftModel holding the best epoch's weights."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    llm.model.to(best_device())
    attach_lora(llm, config)
    model = llm.model
    params = [p for p in model.parameters() if p.requires_grad]
    result = TrainResult(
        trainable_params=sum(p.numel() for p in params), total_params=sum(p.numel() for p in model.parameters())
    )
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = max(1, int(total * config.warmup_ratio))
    n_layers = model.config.num_hidden_layers
    use_trunk = bool(config.top_layers) and config.top_layers < n_layers and not config.gradient_checkpointing
    discriminative = config.objective == "discriminative"
    trunk = Trunk(llm, n_layers - config.top_layers, train, all_labels=discriminative) if use_trunk else None
    val_trunk = Trunk(llm, n_layers - config.top_layers, val, all_labels=True) if use_trunk else None
    best_state: dict[str, torch.Tensor] | None = None
    stale, step, seen, train_seconds = 0, 0, 0, 0.0
    start = time.perf_counter()
    bar = tqdm(total=total, desc="fine-tuning", unit="step", disable=not progress)
    for epoch in range(1, config.epochs + 1):
        model.train()
        tick = time.perf_counter()
        for batch in batches(train, config.batch_size, rng):
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * lr_at(step, total, warmup)
            loss = batch_loss(llm, trunk, batch, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            step += 1
            seen += len(batch)
            result.history.append({"step": step, "epoch": epoch, "loss": round(loss.item(), 5)})
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
        train_seconds += time.perf_counter() - tick
        val_acc = accuracy(llm, val, val_trunk)
        result.history.append({"epoch": epoch, "val_accuracy": round(val_acc, 4)})
        bar.write(f"epoch {epoch}: val accuracy {val_acc:.1%}")
        if val_acc > result.best_val_accuracy or best_state is None:
            result.best_epoch, result.best_val_accuracy, stale = epoch, val_acc, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}
        else:
            stale += 1
        out_of_time = config.max_minutes and (time.perf_counter() - start) / 60 > config.max_minutes
        if stale >= config.patience or out_of_time:
            bar.write("early stop: no validation gain" if not out_of_time else "stop: time budget reached")
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    llm.reset_prefix_cache()
    result.seconds = time.perf_counter() - start
    result.examples_per_second = seen / max(train_seconds, 1e-9)
    return result
