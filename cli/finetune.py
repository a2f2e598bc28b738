"""`household finetune`, `household eval`, `household models list|use|export-ollama`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from household.app import App, pass_app


def _as_command(ctx: click.Context) -> str:
    """The command line that reproduces this run, for the report: the options the user gave."""
    parts = ["household", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        flag = param.opts[0] if isinstance(param, click.Option) else ""
        parts.append(flag if value is True else f"{flag} {value}".strip())
    return " ".join(parts)


def _row(name: str, accuracy: float | None, invalid: Any, p50: Any, extra: str = "") -> str:
    acc = f"{accuracy:7.1%}" if accuracy is not None else "      -"
    ms = f"{p50:7.0f}" if isinstance(p50, (int, float)) else "      -"
    return f"  {name:<34} {acc} {invalid!s:>8} {ms}  {extra}"


def _table(results: Sequence[Any]) -> list[str]:
    from finetune.evaluation import Skipped

    header = "top-2, ECE raw -> calibrated, wrong with confidence >= 0.9"
    lines = [f"  {'scenario':<34} {'accuracy':>7} {'invalid':>8} {'p50 ms':>7}  {header}"]
    for r in results:
        if isinstance(r, Skipped):
            lines.append(_row(r.name, None, "-", None, r.reason))
        else:
            cal = r.calibration()
            extra = (f"{r.top2_accuracy:.1%}, {cal['ece_raw']:.3f} -> {cal['ece']:.3f}, "
                     f"{cal['confident_misses']}/{len(r.misses)}")
            lines.append(_row(r.name, r.accuracy, r.invalid, r.latency()["p50"], extra))
    return lines


@click.command()
@click.option("--label-mode", type=click.Choice(["code", "name"]), default="code", show_default=True,
              help="Train the model to answer with opaque codes (best) or with category names (the seed's comparison).")
@click.option("--objective", type=click.Choice(["generative", "discriminative"]),
              help="Loss: cross-entropy over every label's score (default), or the seed's likelihood of the gold label's tokens.")
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum epochs (default 8; early stopping on validation).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Peak learning rate (default 1e-3).")
@click.option("--rank", type=click.IntRange(min=1), help="LoRA rank (default 16; alpha follows as 2 x rank).")
@click.option("--seed", type=int, help="Seed of the LoRA init, dropout and example order (default 0); the split never moves.")
@click.option("--feedback", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL of corrections {question, category}; they override dataset labels and go to training.")
@click.option("--force", is_flag=True, help="Activate the new version even if it scores lower than the active one.")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), help="Stop training after this long.")
@click.pass_context
@pass_app
def finetune(
    app: App, ctx: click.Context, label_mode: str, objective: str | None, epochs: int | None, lr: float | None,
    rank: int | None, seed: int | None,
    feedback: Path | None, force: bool, max_minutes: float | None,
) -> None:
    """Retrain the classifier (LoRA) from data/questions, data/questions-extra and feedback; measure it, version it.

    \b
    Writes <data_dir>/models/vNNNN/ (adapter, head.npz, version.json, predictions, report/) and activates
    it only if its test accuracy is not lower than the active version's. Feedback from the chat
    (the feedback store) is always included; --feedback adds a file of corrections.

    \b
    Examples:
      household finetune                                  # codes, r=16, up to 8 epochs, early stopping
      household finetune --label-mode name --epochs 6     # the seed's "names" variant
      household finetune --objective generative           # the seed's loss, for comparison
      household finetune --seed 1                         # another draw: how much is noise
      household finetune --feedback fixes.jsonl --force   # fixes.jsonl: {"question": ..., "category": "pool"}
    """
    from finetune.run import finetune as run
    from finetune.trainer import FinetuneConfig

    chosen: dict[str, Any] = {
        "objective": objective, "epochs": epochs, "learning_rate": lr, "max_minutes": max_minutes, "seed": seed,
        "rank": rank,
    }
    config = FinetuneConfig(label_mode=label_mode, **{k: v for k, v in chosen.items() if v is not None})
    outcome = run(app.settings, app.taxonomy, config, feedback, force, command=_as_command(ctx))
    info = outcome.version.info
    train = info.training
    click.echo(
        f"\n{info.version}: LoRA {label_mode}s on {info.base_model}, "
        f"{train.trainable_params:,} trainable of {train.total_params:,} parameters, "
        f"{train.seconds / 60:.1f} min, best epoch {train.best_epoch}"
    )
    click.echo(f"Test split ({info.data.test} questions), before and after:")
    for line in _table(list(outcome.evaluations.values())):
        click.echo(line)
    selection = info.selection
    val = selection.val_accuracy
    runner_up = max((acc for kind, acc in val.items() if kind != selection.winner), default=0.0)
    click.echo(
        f"`auto` uses: {selection.winner} ({val[selection.winner]:.1%} on the {selection.chosen_on}, "
        f"{100 * (val[selection.winner] - runner_up):+.1f} points over the next best)"
    )
    if info.calibration:
        click.echo("Temperatures: " + ", ".join(f"{k} {t:g}" for k, t in info.calibration.temperature.items()))
    click.secho(outcome.reason, fg="green" if outcome.activated else "yellow")
    click.echo(f"Report: {outcome.version.path / 'report' / 'report.md'}")


@click.command("eval")
@click.option("--questions", type=click.Path(exists=True, path_type=Path),
              help="JSONL file or folder of {question, category (name)[, second_category]} to test on; "
                   "default: the dataset's test split.")
@click.option("--heldout", type=click.Choice(["calibration", "test"]),
              help="Test on a part of the held-out set (data/eval/questions, split by writer: calibration_writers).")
@click.option("--model", "model_spec", default="auto", show_default=True,
              metavar="VERSION|auto|llm|embedding|ensemble|base|zero-shot", help="Which classifier to measure.")
@click.option("--compare", is_flag=True, help="Measure every scenario: base/LoRA x names/codes, embedding, ensemble, zero-shot.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Report folder (default <data_dir>/reports/<timestamp>/).")
@click.option("--latency-sample", type=click.IntRange(min=0), default=20, show_default=True,
              help="Questions timed one at a time; the rest run in batches.")
@click.pass_context
@pass_app
def eval_(
    app: App, ctx: click.Context, questions: Path | None, heldout: str | None, model_spec: str, compare: bool,
    as_json: bool, out: Path | None, latency_sample: int,
) -> None:
    """Measure a classifier: accuracy, per category, confusion matrix, invalid answers, latency, misses.

    \b
    Writes report.json, report.md and PNG plots into --out.
    Examples:
      household eval                                   # the product's classifier on the test split
      household eval --model embedding --json
      household eval --compare                         # the seed's four scenarios and the alternatives
      household eval --model v0002 --questions my-questions.jsonl
      household eval --compare --heldout test          # the held-out writers no choice was made on
    """
    from finetune.scenarios import run_eval

    run = run_eval(app.settings, app.taxonomy, model_spec, compare, questions, out, latency_sample, _as_command(ctx),
                   progress=not as_json, heldout=heldout)
    examples, results, files = run.examples, run.results, run.files
    if as_json:
        click.echo(files["json"].read_text(encoding="utf-8").rstrip())
        return
    where = f" from {questions}" if questions else f" (held-out {heldout} part)" if heldout else " (test split)"
    click.echo(f"{len(examples)} questions" + where)
    for line in _table(results):
        click.echo(line)
    click.echo(f"Report: {files['markdown']}")


@click.group()
def models() -> None:
    """List, switch and export the fine-tuned classifier versions."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def models_list(app: App, as_json: bool) -> None:
    """Every trained version: date, label mode, test accuracy, what `auto` uses; * marks the active one."""
    from classifier.registry import Registry

    registry = Registry(app.settings.models_dir)
    active = registry.active()
    rows = [
        {"version": v.version, "created": v.info.created, "label_mode": v.info.label_mode,
         "test_accuracy": v.info.test_accuracy, "winner": v.info.selection.winner,
         "active": active is not None and v.version == active.version}
        for v in registry.versions()
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("No versions yet: run `household finetune`.")
        return
    click.echo(f"  {'version':<8} {'created':<19} {'labels':<6} {'test acc':>8}  auto uses")
    for r in rows:
        click.echo(f"{'*' if r['active'] else ' '} {r['version']:<8} {r['created']:<19} {r['label_mode']:<6} "
                   f"{r['test_accuracy']:>8.1%}  {r['winner']}")


@models.command("use")
@click.argument("version")
@pass_app
def models_use(app: App, version: str) -> None:
    """Make VERSION the active classifier (no accuracy check: you chose it).

    Example: household models use v0002
    """
    from classifier.registry import Registry

    chosen = Registry(app.settings.models_dir).activate(version)
    click.echo(f"{chosen.version} is now active (test accuracy {chosen.info.test_accuracy:.1%})")


@models.command("calibrate")
@click.argument("version")
@pass_app
def models_calibrate(app: App, version: str) -> None:
    """Choose VERSION's `auto`, ensemble weight and temperatures again on the held-out calibration part.

    \b
    For a version trained before calibration existed (or after the held-out set changed): no
    retraining, a few minutes of scoring; rewrites its version.json.
    Example: household models calibrate v0001
    """
    from classifier.registry import Registry
    from finetune.run import calibrate

    info = calibrate(app.settings, app.taxonomy, Registry(app.settings.models_dir).get(version))
    cal, selection = info.calibration, info.selection
    click.echo(f"{info.version}: chosen on the {cal.fitted_on}")
    click.echo(f"`auto` uses: {selection.winner}; ensemble weight {selection.ensemble_weight:g}; accuracy there "
               + ", ".join(f"{kind} {acc:.1%}" for kind, acc in selection.val_accuracy.items()))
    for kind, t in cal.temperature.items():
        click.echo(f"  {kind:<10} temperature {t:<7g} ECE there {cal.ece_before[kind]:.3f} -> {cal.ece_after[kind]:.3f}")


@models.command("export-ollama")
@click.argument("version")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder (default <version>/ollama).")
@click.option("--quant", type=click.Choice(["f16", "q8_0"]), default="f16", show_default=True,
              help="Weight precision in the GGUF file.")
@pass_app
def models_export(app: App, version: str, out: Path | None, quant: str) -> None:
    """Merge VERSION's adapter into its base model and write model.gguf + Modelfile for Ollama.

    \b
    The file is verified here by llama.cpp, the engine Ollama runs (needs llama-cpp-python): same
    tokens, same codes on the test split. It replaces an earlier export only once verified.
    Ollama itself is not run; the command to import it is printed.
    Example: household models export-ollama v0003 --quant q8_0 --out ./ollama-classifier
    """
    from finetune.export import export_ollama

    result = export_ollama(app.settings, app.taxonomy, version, out, quant)
    size = result.gguf.stat().st_size / 2**20
    click.echo(f"Wrote {result.gguf} ({size:.0f} MiB, {quant}) and {result.modelfile}")
    click.echo(
        f"Verified with {result.engine} on {result.questions} test questions: tokenizer identical, "
        f"{result.agreement:.1%} same codes as the in-process merged model "
        f"({result.file_agreement:.0%} at the file's own precision)."
    )
    click.echo("Import it into Ollama (not run here):")
    click.echo(f"  {result.command}")


@click.command("eval-corrections")
@click.option("--heldout", type=click.Choice(["calibration", "test"]), default="test", show_default=True,
              help="Which part of the held-out set to correct and re-ask.")
@click.option("--model", "model_spec", default="auto", show_default=True,
              metavar="VERSION|auto|llm|embedding|ensemble", help="The classifier behind the corrections.")
@click.option("-k", "k", type=click.IntRange(min=1), help="Correct only the first K misses (default: every miss).")
@click.option("--threshold", "thresholds", type=click.FloatRange(0, 1), multiple=True,
              help="correction_similarity to try (repeatable; default: the setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@pass_app
def eval_corrections(app: App, heldout: str, model_spec: str, k: int | None, thresholds: tuple[float, ...],
                     as_json: bool) -> None:
    """Correct held-out misses through the chat's correction path, then ask their paraphrases and everything else.

    \b
    Corrections go to a temporary feedback store, never to yours. Choose correction_similarity on
    the calibration part, report on the test part:
      household eval-corrections --heldout calibration --threshold 0.6 --threshold 0.7 --threshold 0.85
      household eval-corrections -k 10
    """
    from chatbot.correction_evaluation import evaluate_corrections
    from classifier.heldout import load_part
    from finetune.scenarios import build_classifier

    rows = load_part(app.settings, app.taxonomy, heldout)
    reports = evaluate_corrections(app.settings, app.taxonomy, build_classifier(app.settings, app.taxonomy, model_spec),
                                   rows, k, thresholds or None)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports]))
        return
    click.echo(f"{len(rows)} held-out {heldout} questions (with {sum(len(r.paraphrases) for r in rows)} paraphrases); "
               f"{reports[0].corrected} misses corrected")
    click.echo(f"  {'threshold':>9}  {'paraphrases right':>18}  {'other questions right':>22}  dropped  fixed")
    for r in reports:
        click.echo(f"  {r.threshold:>9g}  {r.paraphrases_right_before:>4} -> {r.paraphrases_right_after:>3}/{r.paraphrases:<4}"
                   f"   {r.others_right_before:>5} -> {r.others_right_after:>4}/{r.others:<5}  {len(r.dropped):>7}  "
                   f"{r.fixed:>5}")
        for change in r.dropped[:5]:
            click.echo(f"      dropped: {change.text!r} ({app.taxonomy.by_code(change.expected).name} -> "
                       f"{app.taxonomy.by_code(change.after).name})")


@click.command("learning-curve")
@click.option("--model", "recipe_name", type=click.Choice(["embedding", "llm"]), default="embedding", show_default=True,
              help="The recipe: the MiniLM head (seconds per point) or LoRA codes on the base LM (a fine-tune per point).")
@click.option("--questions", type=click.Path(exists=True, path_type=Path),
              help="JSONL file or folder to measure on; default: the dataset's test split.")
@click.option("--heldout", type=click.Choice(["calibration", "test"]), help="Measure on a part of the held-out set.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Random draws per fraction below 100% (the spread shows how much of a step is the draw).")
@click.option("--json", "as_json", is_flag=True, help="Print the points as JSON.")
@pass_app
def learning_curve(app: App, recipe_name: str, questions: Path | None, heldout: str | None, seeds: int,
                   as_json: bool) -> None:
    """Accuracy as the training data grows: is a stalled classifier short of data or of model?

    \b
    Trains the recipe afresh on 1/8, 1/4, 1/2, 3/4 and all of the training split (whole paraphrase
    groups) and measures each on questions it never saw. Still climbing at the end: more labelled
    questions help. Flat: the model is the limit.
    Examples:
      household learning-curve --heldout test              # the head, on the held-out writers
      household learning-curve --model llm --seeds 1       # LoRA: a GPU makes this minutes, not hours
    """
    from dataclasses import asdict

    from finetune.learning_curve import measure

    points = measure(app.settings, app.taxonomy, recipe_name, questions, heldout, seeds=seeds, progress=not as_json)
    if as_json:
        click.echo(json.dumps([asdict(p) for p in points]))
        return
    where = f"{questions}" if questions else f"held-out {heldout} part" if heldout else "the test split"
    click.echo(f"{recipe_name} recipe, measured on {where}:")
    click.echo(f"  {'fraction':>8} {'examples':>8} {'accuracy':>8}  seeds (worst - best)")
    for p in points:
        click.echo(f"  {p.fraction:>8.1%} {p.examples:>8} {p.accuracy:>8.1%}  {p.low:.1%} - {p.high:.1%}")


commands = [finetune, eval_, eval_corrections, learning_curve, models]
