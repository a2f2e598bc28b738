"""`household ask`, `search`, `eval-retrieval`, `feedback list|delete|export` and `ui`."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from household.app import App, pass_app
from household.errors import ConfigError, HouseholdError, InputError

if TYPE_CHECKING:
    from chatbot.assistant import Assistant
    from chatbot.retrieval import Retrieval
    from storage.store import Hit

UI_SCRIPT = Path(__file__).resolve().parents[1] / "chatbot" / "ui" / "app.py"


def _assistant(app: App) -> "Assistant":
    from chatbot.assistant import Assistant

    return Assistant(app.settings, app.taxonomy)


def _code(app: App, category: str | None) -> str | None:
    if category is None:
        return None
    found = app.taxonomy.find(category)
    if found is None:
        raise InputError(f"unknown category {category!r}; see `household categories`")
    return found.code


def hit_dict(hit: "Hit", rank: int, app: App) -> dict[str, Any]:
    from chatbot.retrieval import source_name

    category = app.taxonomy.by_code(hit.category).name if hit.category in app.taxonomy.codes else hit.category
    return {
        "rank": rank, "id": hit.id, "source": hit.source, "name": source_name(hit),
        "title": hit.meta.title, "date": hit.meta.date,
        "code": hit.category, "category": category, "distance": round(hit.distance, 4), "text": hit.text,
    }


def retrieval_dict(retrieval: "Retrieval", app: App) -> dict[str, Any]:
    return {
        "question": retrieval.question,
        "classification": retrieval.prediction.as_dict(app.taxonomy),
        "path": retrieval.path,
        "codes": retrieval.codes,
        "hits": [hit_dict(hit, i, app) for i, hit in enumerate(retrieval.hits, 1)],
    }


def _tag(retrieval: "Retrieval", app: App) -> str:
    """The category tag: name in its taxonomy colour, confidence, and the retrieval path taken."""
    category = app.taxonomy.by_code(retrieval.prediction.code)
    colour = tuple(int(category.color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    tag = click.style(f"[{category.name}]", fg=colour, bold=True)
    return f"{tag} {retrieval.prediction.confidence:.0%} · search: {retrieval.path}"


def _source_line(hit: dict[str, Any]) -> str:
    parts = [hit["name"]] + [hit[key] for key in ("date", "category") if hit[key]]
    return f"  [{hit['rank']}] " + " · ".join(parts) + f" · distance {hit['distance']:.2f}"


@click.command()
@click.argument("question")
@click.option("--category", metavar="NAME", help="Search this category instead of the predicted one.")
@click.option("--no-filter", is_flag=True, help="Search every record, whatever the category.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (answer, classification, sources).")
@pass_app
def ask(app: App, question: str, category: str | None, no_filter: bool, as_json: bool) -> None:
    """Answer QUESTION from your records: category tag, streamed answer, then the sources it cites.

    If the answer cannot be generated (Ollama down, model not pulled) the reason is printed
    with what to run, the sources are still listed, and the exit status is 1.

    \b
    Examples:
      household ask "when did we replace the pool pump?"
      household ask "what's the alarm code" --json
      household --profile qwen ask "who serviced the AC last summer"   # answers via Ollama
    """
    assistant = _assistant(app)
    retrieval = assistant.retrieve(question, code=_code(app, category), use_filter=not no_filter)
    result = retrieval_dict(retrieval, app)
    sources = result.pop("hits")
    if not as_json:
        click.echo(_tag(retrieval, app))
    pieces: list[str] = []
    error = None
    try:
        for piece in assistant.answer(retrieval):
            pieces.append(piece)
            if not as_json:
                click.echo(piece, nl=False)
    except HouseholdError as exc:
        error = str(exc)
    if as_json:
        click.echo(json.dumps({**result, "answer": "".join(pieces), "error": error, "sources": sources}))
    else:
        if pieces:
            click.echo()
        if error:
            click.secho(f"Error: {error}", fg="red", err=True)
        click.echo("\nSources:" if sources else "\nNo matching records.")
        for hit in sources:
            click.echo(_source_line(hit))
    if error:
        sys.exit(1)


@click.command()
@click.argument("question")
@click.option("-k", "k", type=click.IntRange(1, 100), help="How many chunks (default: the top_k setting).")
@click.option("--category", metavar="NAME", help="Search this category instead of the predicted one.")
@click.option("--no-filter", is_flag=True, help="Search every record, whatever the category.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, full chunk texts.")
@pass_app
def search(app: App, question: str, k: int | None, category: str | None, no_filter: bool, as_json: bool) -> None:
    """Show what `ask` would read for QUESTION: classification, search path and ranked chunks. No answer is generated.

    The path says how the category filter was applied: filtered (predicted category), widened-2 /
    widened-3 (top categories, when unsure or too little was found), unfiltered, general,
    no-filter (--no-filter) or override (--category).

    \b
    Examples:
      household search "pool filter pressure" -k 3
      household search "HOA dues 2026" --no-filter --json
    """
    assistant = _assistant(app)
    retrieval = assistant.retrieve(question, code=_code(app, category), k=k, use_filter=not no_filter)
    result = retrieval_dict(retrieval, app)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(_tag(retrieval, app))
    codes = ", ".join(retrieval.codes) if retrieval.codes else "all categories"
    click.echo(f"searched: {codes}")
    if not retrieval.hits:
        click.echo("No matching records (is the store empty? run `household ingest DIR`).")
    for hit in result["hits"]:
        click.echo(_source_line(hit))
        text = " ".join(hit["text"].split())
        click.echo(f"      {text[:300]}{'…' if len(text) > 300 else ''}")


@click.command("eval-retrieval")
@click.argument("qa_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Ingest this folder into a temporary store and evaluate on it (default: the configured store).")
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help="Chunks per question.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report, with every miss.")
@pass_app
def eval_retrieval(app: App, qa_file: Path, corpus: Path | None, k: int, as_json: bool) -> None:
    """Measure hit@k on QA_FILE: with the category filter, without it, and with the widening policy.

    QA_FILE holds JSON lines {question, category, doc, answer_contains}; a question counts as a
    hit when one of the k chunks comes from `doc` (path under the corpus folder) and contains one
    of the `answer_contains` strings. The classifier's accuracy on the questions is reported too.

    \b
    Examples:
      household eval-retrieval data/household/qa.jsonl --corpus data/household
      household eval-retrieval my-qa.jsonl -k 3 --json
    """
    from chatbot.evaluation import MODES, evaluate, load_qa

    rows = load_qa(qa_file, app.taxonomy)
    with tempfile.TemporaryDirectory(prefix="household-eval-") as tmp:
        if corpus is not None:
            assistant = _ingested(app, Path(tmp), corpus)
        else:
            assistant = _assistant(app)
            if assistant.store.count() == 0:
                raise InputError(f"the store {assistant.store.location} is empty: ingest first, or pass --corpus DIR")
        report = evaluate(assistant.retriever, rows, k, progress=True)  # the bar goes to stderr
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    labels = {"filter": "with the category filter", "no_filter": "without the filter", "widening": "widening policy"}
    click.echo(f"{report.questions} questions, hit@{k}:")
    for mode in MODES:
        click.echo(f"  {labels[mode]:<26} {report.rate(mode):6.1%}")
    click.echo(f"classification accuracy      {report.accuracy:6.1%}")
    click.echo("widening paths: " + ", ".join(f"{p} {n}" for p, n in report.paths.most_common()))
    for miss in report.misses:
        click.echo(f"  missed ({', '.join(miss['missed'])}): line {miss['line']}: {miss['question']}")


def _ingested(app: App, store_dir: Path, corpus: Path) -> "Assistant":
    """An Assistant over a fresh store in `store_dir` holding `corpus`; models and caches stay the configured ones."""
    from chatbot.assistant import Assistant
    from classifier.registry import load_classifier
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    classifier = load_classifier(app.settings, app.taxonomy)
    store = Store(app.settings.replace(data_dir=store_dir, chroma_url=""), getattr(classifier, "embedder", None))
    assigner = CategoryAssigner(app.settings, app.taxonomy, classifier=classifier)
    report = Pipeline(store.settings, store, assigner).run([corpus], progress=True)
    if not report.ingested:
        raise InputError(f"nothing readable in {corpus}")
    return Assistant(app.settings, app.taxonomy, classifier=classifier, store=store)


@click.group()
def feedback() -> None:
    """Category corrections made in the UI: list them, delete one, export them for `household finetune`."""


@feedback.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def feedback_list(app: App, as_json: bool) -> None:
    """Every correction, oldest first: id, date, predicted -> corrected category, question."""
    from storage.feedback import FeedbackStore

    rows = FeedbackStore(app.settings.feedback_db).list()
    if as_json:
        click.echo(json.dumps([row.__dict__ for row in rows]))
        return
    if not rows:
        click.echo("No corrections yet (use \"Wrong category?\" in `household ui`).")
    for row in rows:
        click.echo(f"{row.id:>4}  {row.created_at[:10]}  {_name(app, row.predicted_code)} -> "
                   f"{_name(app, row.corrected_code)}  {row.question}  ({row.model_version})")


def _name(app: App, code: str) -> str:
    return app.taxonomy.by_code(code).name if code in app.taxonomy.codes else code


@feedback.command("delete")
@click.argument("correction_id", metavar="ID", type=int)
@pass_app
def feedback_delete(app: App, correction_id: int) -> None:
    """Delete the correction with this ID (see `household feedback list`)."""
    from storage.feedback import FeedbackStore

    if not FeedbackStore(app.settings.feedback_db).delete(correction_id):
        raise InputError(f"no correction with id {correction_id}; see `household feedback list`")
    click.echo(f"Deleted correction {correction_id}.")


@feedback.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def feedback_export(app: App, file: Path) -> None:
    """Write the corrections as dataset rows (JSON lines) that `household finetune` can learn from.

    Example: household feedback export data/questions/feedback.jsonl
    """
    from storage.feedback import FeedbackStore

    count = FeedbackStore(app.settings.feedback_db).export_jsonl(file, app.taxonomy)
    click.echo(f"Wrote {count} corrections to {file}.")


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: the ui_port setting, 8501).")
@click.option("--host", help="Address to bind (default: the ui_host setting, 127.0.0.1: this machine only).")
@click.pass_context
def ui(ctx: click.Context, port: int | None, host: str | None) -> None:
    """Open the chat in your browser (Streamlit), bound to this machine only by default.

    \b
    Examples:
      household ui                 # http://127.0.0.1:8501
      household ui --port 8600
    """
    app: App = ctx.find_object(App)
    if not UI_SCRIPT.exists():
        raise ConfigError(f"the UI script {UI_SCRIPT} is missing: reinstall the project")
    settings = app.settings
    env = {**os.environ, "HOUSEHOLD_PROFILE": settings.profile, "HOUSEHOLD_DATA_DIR": str(settings.data_dir)}
    config_file = ctx.find_root().params.get("config_file")
    if config_file:
        env["HOUSEHOLD_CONFIG"] = str(Path(config_file).resolve())
    command = [
        sys.executable, "-m", "streamlit", "run", str(UI_SCRIPT),
        "--server.address", host or settings.ui_host, "--server.port", str(port or settings.ui_port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]
    click.echo(f"Serving the chat on http://{host or settings.ui_host}:{port or settings.ui_port} (Ctrl-C stops it)")
    sys.stdout.flush()
    os.execve(sys.executable, command, env)  # become streamlit, so signals (Ctrl-C, kill) reach it directly


commands = [ask, search, eval_retrieval, feedback, ui]
