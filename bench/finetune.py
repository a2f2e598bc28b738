"""Section 6: LoRA training speed, LoRA on all blocks vs on the top 10 over the cached frozen trunk.

Both variants run `finetune.trainer.train` itself for one short epoch on the same training
examples, from a fresh copy of the base model, and report its examples/s (time in training
steps only). The top-10 variant also pays once for running the frozen lower blocks over the
training set (`finetune/trunk.py`); that cost is timed too and folded into an estimate of a
whole run. The wall time of a real run is read from the newest version's metrics.json.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.classification import sample
from bench.report import Section
from bench.timing import ratio, stopwatch, times
from bench.workspace import Workspace

TOP_LAYERS = 10


def recorded_run(ws: Workspace) -> dict[str, Any] | None:
    """Training figures of the newest fine-tuned version in the configured data dir, if any."""
    from classifier.registry import Registry

    versions = Registry(ws.source.models_dir).versions()
    if not versions:
        return None
    newest = versions[-1]
    train = newest.info.training
    return {
        "version": newest.version, "train_seconds": round(train.seconds, 1),
        "examples_per_s": round(train.examples_per_second, 2),
        "top_layers": newest.info.lora.top_layers, "best_epoch": train.best_epoch,
    }


def run(ws: Workspace) -> Section:
    from classifier.llm import LLMClassifier
    from finetune.trainer import FinetuneConfig, train
    from finetune.trunk import Trunk

    section = Section("finetune", "6. Fine-tune: LoRA training speed")
    config = FinetuneConfig(batch_size=ws.sizes.train_batch, epochs=1)
    examples = sample(ws.split.train, ws.sizes.train_steps * ws.sizes.train_batch)
    val = ws.split.val[:2]
    figures: dict[str, Any] = {}
    trunk_seconds = 0.0
    for name, top in (("all_blocks", None), (f"top_{TOP_LAYERS}", TOP_LAYERS)):
        ws.say(f"finetune: LoRA on {'all blocks' if top is None else f'the top {top} blocks (cached trunk)'}, "
               f"{len(examples)} examples in batches of {config.batch_size}")
        llm = LLMClassifier.load(ws.settings.classifier_model, ws.settings, ws.taxonomy, None, config.label_mode,
                                 config.prompt_style)
        result = train(llm, examples, val, replace(config, top_layers=top), progress=True)
        figures[name] = {"examples_per_s": round(result.examples_per_second, 3),
                         "trainable_params": result.trainable_params, "steps": ws.sizes.train_steps}
        if top is not None:
            start = llm.model.config.num_hidden_layers - top
            trunk_seconds, _ = stopwatch(Trunk, llm, start, examples)
            figures[name]["trunk_seconds_per_example"] = round(trunk_seconds / len(examples), 4)
    full, top = figures["all_blocks"]["examples_per_s"], figures[f"top_{TOP_LAYERS}"]["examples_per_s"]
    n, epochs = len(ws.split.train), FinetuneConfig().epochs
    estimate_full = epochs * n / full
    estimate_top = trunk_seconds / len(examples) * n + epochs * n / top
    figures.update(
        top_over_all_blocks=ratio(top, full), train_examples=n, epochs=epochs,
        estimated_run_seconds={"all_blocks": round(estimate_full), f"top_{TOP_LAYERS}": round(estimate_top)},
        recorded=recorded_run(ws),
    )
    section.figures = figures
    section.row("LoRA, all 30 blocks: examples/s", f"{full:.2f}")
    section.row(f"LoRA, top {TOP_LAYERS} blocks + cached trunk: examples/s", f"{top:.2f}",
                f"{times(figures['top_over_all_blocks'])} all blocks")
    section.row("trunk (frozen lower blocks, once per run): s per example", f"{trunk_seconds / len(examples):.3f}")
    section.row(f"estimated training, {epochs} epochs of {n} examples (steps, plus the trunk once)",
                f"top {TOP_LAYERS}: {estimate_top / 60:.1f} min", f"all blocks: {estimate_full / 60:.1f} min "
                f"({times(ratio(estimate_full, estimate_top))})")
    recorded = figures["recorded"]
    if recorded:
        section.row(f"recorded run {recorded['version']}: training wall time",
                    f"{recorded['train_seconds'] / 60:.1f} min",
                    f"{recorded['examples_per_s']:.2f} examples/s (top_layers={recorded['top_layers']}), "
                    f"best epoch {recorded['best_epoch']}")
    else:
        section.row("wall time of a full `household finetune` run", "not measured in this run",
                    "no fine-tuned version with training figures in the data dir")
    section.notes.append(
        f"{len(examples)} training examples, batch {config.batch_size}, {config.prompt_style} prompt, "
        f"rank {config.rank}; "
        "examples/s counts training steps only (validation excluded), the first step's warm-up included."
    )
    return section
