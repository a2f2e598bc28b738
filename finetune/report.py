"""The evaluation report: report.json, report.md and PNG plots in one folder.

Modelled on a good fine-tuning write-up: the before/after figures side by side, the trainable
parameter count and LoRA configuration, the loss curve, which classifier `auto` chose and by
how much, top-2 accuracy and calibration (ECE, a reliability diagram, confident misses, two-topic
questions), and the misses themselves, so a reader can judge the numbers rather than trust them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from finetune.evaluation import Evaluation, Skipped

Result = Evaluation | Skipped
MAX_MISSES = 40
MAX_EXAMPLES = 8


def write_report(
    out_dir: Path,
    results: Sequence[Result],
    title: str,
    version: dict[str, Any] | None = None,
    before: str | None = None,
    after: str | None = None,
    command: str = "",
) -> dict[str, Path]:
    """Write every file; `version` holds a trained version's config, training history and selection."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluations = [r for r in results if isinstance(r, Evaluation)]
    files: dict[str, Path] = {}
    for ev in evaluations:
        files[f"confusion:{ev.name}"] = plot_confusion(ev, out_dir / f"confusion-{slug(ev.name)}.png")
    if evaluations:
        files["per_category"] = plot_per_category(evaluations, out_dir / "per-category.png")
        files["reliability"] = plot_reliability(evaluations, out_dir / "reliability.png")
    history = (version or {}).get("train", {}).get("history") or []
    if any("loss" in row for row in history):
        objective = (version or {}).get("config", {}).get("objective", "discriminative")
        files["loss"] = plot_loss(history, out_dir / "loss.png", objective)
    summary = {
        "title": title,
        "created": datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "version": _version_context(version),
        "scenarios": [r.summary() for r in results],
    }
    files["json"] = out_dir / "report.json"
    files["json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    files["markdown"] = out_dir / "report.md"
    files["markdown"].write_text(markdown(summary, results, files, version, before, after), encoding="utf-8")
    return files


def _version_context(version: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the JSON keeps of a version: everything but the per-step history (that is the plot)."""
    if not version:
        return None
    train = {k: v for k, v in version.get("train", {}).items() if k != "history"}
    return {**version, "train": train}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def markdown(
    summary: dict[str, Any], results: Sequence[Result], files: dict[str, Path], version: dict[str, Any] | None,
    before: str | None, after: str | None,
) -> str:
    evaluations = {r.name: r for r in results if isinstance(r, Evaluation)}
    lines = [f"# {summary['title']}", ""]
    n = len(next(iter(evaluations.values())).records) if evaluations else 0
    if before in evaluations and after in evaluations:
        b, a = evaluations[before], evaluations[after]
        lines += [
            (
                f"On {n} held-out questions, **{a.name}** answers {_pct(a.accuracy)} correctly "
                f"({sum(r.correct for r in a.records)}/{n}), against {_pct(b.accuracy)} for **{b.name}** "
                f"({sum(r.correct for r in b.records)}/{n})."
            ),
            "",
        ]
    header = ("| scenario | accuracy | correct | top-2 | ECE raw | ECE | wrong with conf >= 0.9 | invalid answers "
              "| p50 ms | p95 ms | batch ms/question |")
    lines += ["## Accuracy", "", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if isinstance(r, Skipped):
            lines.append(f"| {r.name} | - | - | - | - | - | - | - | - | - | {r.reason} |")
            continue
        lat, cal = r.latency(), r.calibration()
        lines.append(
            f"| {r.name} | {_pct(r.accuracy)} | {sum(x.correct for x in r.records)}/{len(r.records)} "
            f"| {_pct(r.top2_accuracy)} | {cal['ece_raw']:.3f} | {cal['ece']:.3f} "
            f"| {cal['confident_misses']}/{len(r.misses)} | {r.invalid} "
            f"| {_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(lat['batch_ms_per_question'])} |"
        )
    latency = "Latency: one question at a time for the first questions (after a warm-up call), then the rest in batches."
    lines += ["", latency, ""]
    if evaluations:
        lines += _calibration(list(evaluations.values()))
    if version:
        lines += _version_section(version, files)
    if before in evaluations and after in evaluations:
        lines += _before_after(evaluations[before], evaluations[after])
    if "per_category" in files:
        lines += ["## Per category", "", "![per-category accuracy](per-category.png)", ""]
        names = list(evaluations)
        lines += ["| category | n | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        first = next(iter(evaluations.values()))
        for category, row in first.per_category().items():
            cells = [_pct(ev.per_category().get(category, {}).get("accuracy")) for ev in evaluations.values()]
            lines.append(f"| {category} | {row['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    if evaluations:
        lines += ["## Confusion matrices", "", "Rows: the right category; columns: the answer.", ""]
        for name in evaluations:
            lines += [f"![confusion: {name}]({files[f'confusion:{name}'].name})", ""]
    primary = evaluations.get(after) or (next(iter(evaluations.values())) if evaluations else None)
    if primary is not None:
        lines += _misses(primary)
    if summary["command"]:
        lines += ["## Reproduce", "", "```", summary["command"], "```", ""]
    return "\n".join(lines)


def _calibration(evaluations: Sequence[Evaluation]) -> list[str]:
    lines = [
        "## Calibration", "",
        ("ECE: expected calibration error over 10 confidence bins (0 = a confidence of 0.7 is right 70% of the "
         "time); raw = softmax of the classifier's scores before its temperature. Top-2: the right category is one "
         "of the two best."), "",
        "![reliability diagram](reliability.png)", "",
    ]
    two = [(ev, ev.two_topic()) for ev in evaluations if ev.two_topic()]
    if two:
        widened = any("widened" in t for _, t in two)
        lines += ["Two-topic questions:", "",
                  "| scenario | n | both topics in top 2 | either topic first | mean confidence |"
                  + (" widened |" if widened else ""),
                  "|---|---:|---:|---:|---:|" + ("---:|" if widened else "")]
        for ev, t in two:
            lines.append(f"| {ev.name} | {t['n']} | {_pct(t['both_in_top2'])} | {_pct(t['either_first'])} "
                         f"| {t['mean_confidence']:.2f} |" + (f" {_pct(t.get('widened'))} |" if widened else ""))
        lines.append("")
    widen = [(ev, ev.widening()) for ev in evaluations if ev.widening()]
    if widen:
        threshold = widen[0][1]["min_confidence"]
        lines += [f"Retrieval widens to the top 2 categories below min_confidence = {threshold:g}:", "",
                  "| scenario | misses widened | of which recovered (right one in top 2) | right answers widened |",
                  "|---|---:|---:|---:|"]
        for ev, w in widen:
            lines.append(f"| {ev.name} | {w['misses_widened']}/{w['misses']} | {w['misses_recovered']} "
                         f"| {w['right_widened']}/{w['right']} |")
        lines.append("")
    return lines


def _version_section(version: dict[str, Any], files: dict[str, Path]) -> list[str]:
    lines: list[str] = []
    selection = version.get("selection") or {}
    if selection:
        val = selection.get("val_accuracy", {})
        winner = selection.get("winner")
        others = sorted(((acc, kind) for kind, acc in val.items() if kind != winner), reverse=True)
        margin = f", {100 * (val[winner] - others[0][0]):.1f} points ahead of {others[0][1]}" if others else ""
        lines += [
            "## Which classifier `auto` uses",
            "",
            f"Chosen on the {selection.get('chosen_on', 'validation split')}: **{winner}** ({_pct(val.get(winner))}{margin}).",
            "",
            "| classifier | accuracy there |",
            "|---|---:|",
            *[f"| {kind} | {_pct(acc)} |" for kind, acc in val.items()],
            "",
            (
                f"Ensemble: LLM log-probabilities + {selection.get('ensemble_weight', 1.0):g} x embedding-head "
                "log-probabilities (the weight with the lowest calibrated log-loss there)."
            ),
            "",
        ]
    calibration = version.get("calibration") or {}
    if calibration:
        lines += [f"Temperatures fitted on the {calibration['fitted_on']}:", "",
                  "| classifier | temperature | ECE there, raw | ECE there, calibrated |", "|---|---:|---:|---:|"]
        lines += [f"| {kind} | {t:g} | {calibration['ece_before'].get(kind, 0):.3f} "
                  f"| {calibration['ece_after'].get(kind, 0):.3f} |" for kind, t in calibration["temperature"].items()]
        lines.append("")
    config, train = version.get("config") or {}, version.get("train") or {}
    if config:
        lines += ["## LoRA configuration", ""]
        if train.get("trainable_params"):
            share = 100 * train["trainable_params"] / max(1, train["total_params"])
            lines += [
                (
                    f"{train['trainable_params']:,} trainable / {train['total_params']:,} total parameters "
                    f"({share:.2f}% of the weights trained; the base model stays frozen)."
                ),
                "",
            ]
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {key} | {', '.join(v) if isinstance(v, (list, tuple)) else v} |" for key, v in config.items()]
        lines.append("")
    if train:
        lines += ["## Training", ""]
        if "loss" in files:
            lines += ["![training loss](loss.png)", ""]
        losses = [row["loss"] for row in train.get("history", []) if "loss" in row]
        facts = []
        if losses:
            facts.append(f"{len(losses)} logged steps, first loss {losses[0]:.3f}, final loss {losses[-1]:.3f}")
        if train.get("best_epoch"):
            facts.append(f"best epoch {train['best_epoch']} (validation accuracy {_pct(train.get('best_val_accuracy'))})")
        if train.get("seconds"):
            facts.append(f"{train['seconds'] / 60:.1f} min at {train.get('examples_per_second', 0):.1f} examples/s")
        lines += ["; ".join(facts) + ".", ""] if facts else []
    data = version.get("data") or {}
    if data:
        lines += [
            (
                f"Data: {data.get('train')} training, {data.get('val')} validation, {data.get('test')} test questions; "
                f"{data.get('corrections', 0)} feedback corrections (all in training; {data.get('relabelled', 0)} changed "
                f"a dataset label)."
            ),
            "",
        ]
    return lines


def _answer(ev: Evaluation, question: str) -> str:
    r = next(r for r in ev.records if r.question == question)
    said = f" (said {r.output!r})" if r.output is not None else ""
    return (ev.taxonomy.by_code(r.predicted).name if r.predicted else "invalid") + said


def _before_after(before: Evaluation, after: Evaluation) -> list[str]:
    lines = [
        "## Before and after",
        "",
        "| | " + before.name + " | " + after.name + " |",
        "|---|---:|---:|",
        f"| accuracy | {_pct(before.accuracy)} | {_pct(after.accuracy)} |",
        f"| invalid answers | {before.invalid} | {after.invalid} |",
        "",
    ]
    was = {r.question: r.correct for r in before.records}
    fixed = [r for r in after.records if r.correct and not was.get(r.question, True)]
    broken = [r for r in after.records if not r.correct and was.get(r.question, False)]
    lines += [f"{len(fixed)} questions fixed, {len(broken)} broken by the change.", ""]
    if fixed:
        lines += ["| question | right answer | before | after |", "|---|---|---|---|"]
        for r in fixed[:MAX_EXAMPLES]:
            lines.append(
                f"| {r.question} | {after.taxonomy.by_code(r.expected).name} | {_answer(before, r.question)} "
                f"| {_answer(after, r.question)} |"
            )
        lines.append("")
    return lines


def _misses(ev: Evaluation) -> list[str]:
    misses = ev.misses
    lines = [f"## Misses of {ev.name} ({len(misses)})", ""]
    if not misses:
        return lines + ["None.", ""]
    lines += ["| question | right answer | answer | confidence |", "|---|---|---|---:|"]
    for r in misses[:MAX_MISSES]:
        lines.append(f"| {r.question} | {ev.taxonomy.by_code(r.expected).name} | {_answer(ev, r.question)} "
                     f"| {r.confidence:.2f} |")
    if len(misses) > MAX_MISSES:
        lines.append(f"| ... {len(misses) - MAX_MISSES} more in report.json | | | |")
    return lines + [""]


def _figure(width: float, height: float):
    """A figure that needs no display and no global pyplot state (the Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(ev: Evaluation, path: Path) -> Path:
    labels, matrix = ev.confusion()
    names = [ev.taxonomy.by_code(c).name if c in ev.taxonomy.codes else c for c in labels]
    fig = _figure(9, 8)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(matrix)), names[: len(matrix)], fontsize=8)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > max(map(max, matrix)) / 2 else "black")
    ax.set_xlabel("answer")
    ax.set_ylabel("right category")
    ax.set_title(f"{ev.name}: {_pct(ev.accuracy)} of {len(ev.records)}")
    fig.colorbar(image, ax=ax, shrink=0.7)
    fig.savefig(path, dpi=90)
    return path


def plot_per_category(evaluations: Sequence[Evaluation], path: Path) -> Path:
    categories = list(evaluations[0].per_category())
    fig = _figure(10, max(4, 0.45 * len(categories) * max(1, len(evaluations)) ** 0.5))
    ax = fig.subplots()
    height = 0.8 / len(evaluations)
    for k, ev in enumerate(evaluations):
        acc = [100 * ev.per_category().get(c, {}).get("accuracy", 0.0) for c in categories]
        ax.barh([i + k * height for i in range(len(categories))], acc, height, label=ev.name)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(categories))], categories, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Accuracy per category")
    fig.savefig(path, dpi=90)
    return path


def plot_reliability(evaluations: Sequence[Evaluation], path: Path) -> Path:
    """One panel per scenario: accuracy per confidence bin, calibrated (bars) and raw (line), and the diagonal."""
    columns = min(3, len(evaluations))
    rows = -(-len(evaluations) // columns)
    fig = _figure(4 * columns, 3.6 * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, ev in zip(axes, evaluations):
        bins = ev.reliability()
        ax.bar([b.low for b in bins], [b.accuracy for b in bins], width=0.1, align="edge", color="#3060c0",
               alpha=0.7, label=f"calibrated (ECE {ev.ece():.3f})")
        raw = ev.reliability(raw=True)
        ax.plot([b.confidence for b in raw], [b.accuracy for b in raw], "o--", color="#d05020",
                label=f"raw (ECE {ev.ece(raw=True):.3f})")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(ev.name, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(evaluations):]:
        ax.set_visible(False)
    fig.savefig(path, dpi=90)
    return path


LOSS_LABELS = {
    "discriminative": "loss (cross-entropy over every code's score)",
    "generative": "loss (mean label-token NLL)",
}


def plot_loss(history: Sequence[dict[str, Any]], path: Path, objective: str = "discriminative") -> Path:
    steps = [(row["step"], row["loss"]) for row in history if "loss" in row]
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    ax.plot([s for s, _ in steps], [l for _, l in steps], color="#3060c0", linewidth=1, label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel(LOSS_LABELS.get(objective, "loss"))
    epochs = [row for row in history if "val_accuracy" in row]
    if epochs:
        last_step = {row["epoch"]: row["step"] for row in history if "loss" in row}  # an epoch's last step
        xs = [last_step.get(row["epoch"], 0) for row in epochs]
        twin = ax.twinx()
        twin.plot(xs, [100 * row["val_accuracy"] for row in epochs], "o-", color="#d05020", label="validation accuracy")
        twin.set_ylabel("validation accuracy (%)")
        twin.set_ylim(0, 100)
        twin.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Training loss")
    fig.savefig(path, dpi=90)
    return path
