"""`household classify`, `household categories`, `household data check|split`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from household.app import App, pass_app


@click.command()
@click.argument("question")
@click.option("--model", "kind", type=click.Choice(["auto", "llm", "embedding", "ensemble"]), help="Which classifier.")
@click.option("--ignore-corrections", is_flag=True, help="The model's own answer, without the family's corrections.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def classify(app: App, question: str, kind: str | None, ignore_corrections: bool, as_json: bool) -> None:
    """Map QUESTION to its category code, with confidence and the top 3.

    As in the chat, a question close to one corrected with "Wrong category?" gets the corrected
    category ("as you corrected earlier"); --ignore-corrections shows what the model alone says.

    Example: household classify "when did we last backwash the pool filter"
    """
    from chatbot.assistant import Assistant
    from chatbot.ui.tag import REMEMBERED
    from classifier.registry import load_active

    assistant = Assistant(app.settings, app.taxonomy, classifier=load_active(app.settings, app.taxonomy, kind)
                          if kind else None)
    classifier = assistant.classifier
    prediction = classifier.inner.classify(question) if ignore_corrections else assistant.classify(question)
    if as_json:
        click.echo(json.dumps({"classifier": classifier.name, "origin": prediction.origin,
                               **prediction.as_dict(app.taxonomy)}))
        return
    category = app.taxonomy.by_code(prediction.code)
    remembered = f"  ({REMEMBERED})" if prediction.origin == "correction" else ""
    click.echo(f"{category.name} [{prediction.code}]  confidence {prediction.confidence:.0%}  ({classifier.name})"
               f"{remembered}")
    for code, p in prediction.top(3):
        click.echo(f"  {code}  {app.taxonomy.by_code(code).name:<15} {p:6.1%}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def categories(app: App, as_json: bool) -> None:
    """List the taxonomy: code, name and scope of every category."""
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in app.taxonomy]))
        return
    for c in app.taxonomy:
        click.echo(f"{c.code}  {c.name:<15} {c.scope}")


@click.group()
def data() -> None:
    """Check and split the labelled question dataset (data/questions/*.jsonl, data/questions-extra/*.jsonl)."""


@data.command("check")
@click.argument("path", required=False, type=click.Path(exists=True))
@pass_app
def data_check(app: App, path: str | None) -> None:
    """Validate the dataset and the training-only extra questions: every problem is reported with file and line."""
    from classifier.dataset import dataset_files, read_rows

    folders = [Path(path)] if path else [app.settings.questions_dir, app.settings.extra_questions_dir]
    files = [file for folder in folders if folder.exists() for file in dataset_files(folder)]
    examples, problems = read_rows(files, app.taxonomy)
    for problem in problems:
        click.echo(str(problem), err=True)
    counts = Counter(ex.code for ex in examples)
    groups = len({ex.group_id for ex in examples})
    click.echo(f"{len(examples)} questions, {groups} groups, {len(counts)} categories, {len(problems)} problems")
    if problems:
        raise SystemExit(1)


@data.command("split")
@pass_app
def data_split(app: App) -> None:
    """Show the grouped, stratified 70/15/15 split (fixed seed) per category."""
    from classifier.dataset import load_examples, split

    parts = split(load_examples(app.settings.questions_dir, app.taxonomy))
    click.echo(f"{'category':<15} {'train':>5} {'val':>5} {'test':>5}")
    for c in app.taxonomy:
        sizes = [sum(ex.code == c.code for ex in parts[name]) for name in ("train", "val", "test")]
        click.echo(f"{c.name:<15} {sizes[0]:>5} {sizes[1]:>5} {sizes[2]:>5}")
    click.echo(f"{'total':<15} {len(parts.train):>5} {len(parts.val):>5} {len(parts.test):>5}")


commands = [classify, categories, data]
