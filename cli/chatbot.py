"""`household ask`, `chat`, `search`, `eval-retrieval`, `feedback list|delete|export` and `ui`."""

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
    from chatbot.answer import Answer
    from chatbot.assistant import Assistant
    from chatbot.conversation import Conversation
    from chatbot.followup_evaluation import ConversationReport
    from chatbot.retrieval import Retrieval
    from household.taxonomy import Category
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
        "classification": {**retrieval.prediction.as_dict(app.taxonomy), "origin": _origin(retrieval)},
        "path": retrieval.path,
        "codes": retrieval.codes,
        "follow_up": retrieval.follow_up.as_dict() if retrieval.follow_up else None,
        "hits": [hit_dict(hit, i, app) for i, hit in enumerate(retrieval.hits, 1)],
    }


def _origin(retrieval: "Retrieval") -> str:
    """Who decided the category: "classifier", or "correction" when an earlier correction of a near-identical
    question did (classifier/corrected.py). A follow-up carried under the previous category reports "classifier"
    even if its standalone query matched a correction, because the category shown is the previous turn's."""
    carried = bool(retrieval.follow_up and retrieval.follow_up.carried)
    return "correction" if retrieval.prediction.origin == "correction" and not carried else "classifier"


def _tag(retrieval: "Retrieval", app: App) -> str:
    """The category tag: name in its taxonomy colour, confidence, where it came from, and the retrieval path."""
    from chatbot.ui.tag import REMEMBERED

    if retrieval.path == "override" and retrieval.codes:  # --category: the category searched is the one asked for
        category = app.taxonomy.by_code(retrieval.codes[0])
        return f"{_styled(category)} as you asked · search: override"
    category = app.taxonomy.by_code(retrieval.prediction.code)
    tag = _styled(category)
    carried = " · from your previous question" if retrieval.follow_up and retrieval.follow_up.carried else ""
    remembered = f" ({REMEMBERED})" if _origin(retrieval) == "correction" else ""
    return f"{tag} {retrieval.prediction.confidence:.0%}{remembered}{carried} · search: {retrieval.path}"


def _styled(category: Category) -> str:
    colour = tuple(int(category.color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return click.style(f"[{category.name}]", fg=colour, bold=True)


def _source_line(hit: dict[str, Any]) -> str:
    parts = [hit["name"]] + [hit[key] for key in ("date", "category") if hit[key]]
    return f"  [{hit['rank']}] " + " · ".join(parts) + f" · distance {hit['distance']:.2f}"


@click.command()
@click.argument("question")
@click.option("--category", metavar="NAME", help="Search this category instead of the predicted one.")
@click.option("--no-filter", is_flag=True, help="Search every record, whatever the category.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (answer, classification, sources).")
@click.option("--follow-up-of", metavar="PREVIOUS", help="Read QUESTION as a follow-up of this previous question.")
@pass_app
def ask(
    app: App, question: str, category: str | None, no_filter: bool, as_json: bool, follow_up_of: str | None
) -> None:
    """Answer QUESTION from your records: category tag, streamed answer, then the sources it cites.

    If the answer cannot be generated (Ollama down, model not pulled) the reason is printed
    with what to run, the sources are still listed, and the exit status is 1.

    \b
    Examples:
      household ask "when did we replace the pool pump?"
      household ask "what's the alarm code" --json
      household --profile qwen ask "who serviced the AC last summer"   # answers via Ollama
      household ask "how much was it?" --follow-up-of "when was the pool pump replaced?"
    """
    from chatbot.conversation import Conversation, Exchange

    assistant = _assistant(app)
    history = Conversation()
    if follow_up_of:
        history.add(Exchange.of(assistant.retrieve(follow_up_of)))
    retrieval = assistant.retrieve(question, code=_code(app, category), use_filter=not no_filter, history=history)
    _, error = _reply(app, assistant, retrieval, history, as_json)
    if error:
        sys.exit(1)


def _reply(
    app: App, assistant: "Assistant", retrieval: "Retrieval", history: "Conversation | None", as_json: bool = False
) -> tuple["Answer", str | None]:
    """Print the tag, the streamed answer, its evidence and sources (or one JSON object); the answer and its error."""
    result = retrieval_dict(retrieval, app)
    sources = result.pop("hits")
    if not as_json:
        click.echo(_tag(retrieval, app))
    answer = assistant.answer(retrieval, history)
    error = None
    try:
        for piece in answer:
            if not as_json:
                click.echo(piece, nl=False)
    except HouseholdError as exc:
        error = str(exc)
    if as_json:
        click.echo(json.dumps({**result, **answer.as_dict(), "error": error, "sources": sources}))
    else:
        if answer.text:
            click.echo()
        if error:
            click.secho(f"Error: {error}", fg="red", err=True)
        _evidence_lines(answer, app)
        click.echo("\nSources:" if sources else "\nNo matching records.")
        for hit in sources:
            click.echo(_source_line(hit))
    return answer, error


@click.command()
@pass_app
def chat(app: App) -> None:
    """Chat in the terminal: each question is read in the conversation so far, so "who did it?" works.

    Every turn prints the category tag (marked "from your previous question" when a follow-up was
    searched under the previous category, "(as you corrected earlier)" when a correction saved for a
    near-identical question decided it), the answer, its evidence and sources. Type /new to start
    a new conversation; Ctrl-D ends the chat.

    \b
    Example:
      household chat
      > when was the pool pump replaced?
      > how much was it?
    """
    from chatbot.conversation import Conversation, Exchange

    assistant = _assistant(app)
    history = Conversation()
    click.echo("Ask about your records; /new starts a new conversation, Ctrl-D ends.")
    while True:
        click.echo("\n> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            click.echo()
            return
        question = line.strip()
        if question == "/new":
            history.clear()
            click.echo("New conversation.")
            continue
        if not question:
            continue
        try:
            retrieval = assistant.retrieve(question, history=history)
        except HouseholdError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            continue
        answer, _ = _reply(app, assistant, retrieval, history)
        history.add(Exchange.of(retrieval, answer.text))


def _evidence_lines(answer: "Answer", app: App) -> None:
    """The quoted lines under the answer, and the facts no record holds."""
    if answer.unverified:
        click.secho("Unverified (in no retrieved record): " + ", ".join(answer.unverified), fg="yellow")
    if answer.evidence:
        click.echo("\nEvidence:")
    for item in answer.evidence:
        where = " · ".join(filter(None, [item.source, item.date, _name(app, item.category)]))
        click.echo(f"  [{item.rank}] \"{item.text}\" ({where})")


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
    Rows {turns: [FIRST, FOLLOW-UP], category, doc, answer_contains, switch, standalone} are
    conversations: their last turn is reported apart, alone (the baseline), read in its
    conversation, and as the standalone question.

    \b
    Examples:
      household eval-retrieval data/household/qa.jsonl --corpus data/household
      household eval-retrieval data/household/conversations.jsonl --corpus data/household
      household eval-retrieval my-qa.jsonl -k 3 --json
    """
    from chatbot.evaluation import MODES, UNTIMED, evaluate, load_qa
    from chatbot.followup_evaluation import evaluate_conversations, load_conversations

    conversations = load_conversations(qa_file, app.taxonomy)
    rows = load_qa(qa_file, app.taxonomy, required=not conversations)
    with tempfile.TemporaryDirectory(prefix="household-eval-") as tmp:
        assistant = _evaluated(app, Path(tmp), corpus)
        report = evaluate(assistant.retriever, rows, k, progress=True) if rows else None  # the bar goes to stderr
        followups = None
        if conversations:
            followups = evaluate_conversations(assistant.retriever, conversations, k, progress=True)
    if as_json:
        click.echo(json.dumps({**(report.as_dict() if report else {}),
                               **({"conversations": followups.as_dict()} if followups else {})}))
        return
    if followups:
        _conversation_lines(followups)
    if report is None:
        return
    labels = {"filter": "with the category filter", "no_filter": "without the filter", "widening": "widening policy"}
    click.echo(f"{report.questions} questions, hit@{k}:")
    for mode in MODES:
        click.echo(f"  {labels[mode]:<26} {report.rate(mode):6.1%}")
    click.echo(f"classification accuracy      {report.accuracy:6.1%}")
    click.echo("widening paths: " + ", ".join(f"{p} {n}" for p, n in report.paths.most_common()))
    if report.timed:
        click.echo(f"{report.timed} time questions: hit@{k} / right entry ranked above the older ones")
        for mode, label in [*labels.items(), (UNTIMED, "widening, time words ignored")]:
            hit, ordered = report.time_rates(mode)
            click.echo(f"  {label:<28} {hit:6.1%} / {ordered:6.1%}")
    for miss in report.misses:
        click.echo(f"  missed ({', '.join(miss['missed'])}): line {miss['line']}: {miss['question']}")


def _conversation_lines(report: "ConversationReport") -> None:
    """The follow-up figures: the last turn alone (baseline), read in its conversation, and written standalone."""
    click.echo(f"{report.conversations} conversations ({report.switches} topic switches), last turn, "
               f"hit@{report.k} / searched under the right category:")
    labels = {"alone": "alone (no history)", "resolved": "in its conversation", "standalone": "standalone question"}
    for way, label in labels.items():
        click.echo(f"  {label:<26} {report.rate(way):6.1%} / {report.category_rate(way):6.1%}")
    click.echo(f"topic switches under the new category: alone {report.category_rate('alone', True):.1%}, "
               f"in conversation {report.category_rate('resolved', True):.1%}")
    for miss in report.misses:
        what = "missed" if not miss["hit"] else "wrong category"
        click.echo(f"  {what} (searched {miss['searched_under']}): line {miss['line']}: {' / '.join(miss['turns'])}")


@click.command("eval-answers")
@click.argument("qa_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Ingest this folder into a temporary store and evaluate on it (default: the configured store).")
@click.option("--unanswerable", "unanswerable_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines {question, kind} the records cannot answer, or {turns, kind}: a follow-up asked "
                   "in its conversation. The answer should abstain.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report, with every miss.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write answers.json/.md (and conversations.json/.md) into this folder.")
@pass_app
def eval_answers(app: App, qa_file: Path, corpus: Path | None, unanswerable_file: Path | None, as_json: bool,
                 out: Path | None) -> None:
    """Measure the answers on QA_FILE: accuracy, citations, groundedness, abstention, latency.

    QA_FILE is the `eval-retrieval` format (conversation rows too: their last turn is answered
    alone, in its conversation and standalone); an answer is correct when it holds every
    `answer_contains` string (dates and amounts normalised on both sides) in at most 300 characters.
    The answering backend is the generator_backend setting (reader, transformers or ollama).

    \b
    Examples:
      household eval-answers data/household/qa.jsonl --corpus data/household \\
          --unanswerable data/household/unanswerable.jsonl --out reports/answers
      HOUSEHOLD_GENERATOR_BACKEND=transformers household eval-answers qa.jsonl --json
    """
    from chatbot.answer_evaluation import evaluate_answers, load_unanswerable
    from chatbot.evaluation import load_qa
    from chatbot.followup_evaluation import answer_conversations, load_conversations

    conversations = load_conversations(qa_file, app.taxonomy)
    rows = load_qa(qa_file, app.taxonomy, required=not conversations)
    unanswerable = load_unanswerable(unanswerable_file) if unanswerable_file else []
    with tempfile.TemporaryDirectory(prefix="household-eval-") as tmp:
        assistant = _evaluated(app, Path(tmp), corpus)
        report = evaluate_answers(assistant, rows, unanswerable, progress=True)
        followups = answer_conversations(assistant, conversations, progress=True) if conversations else None
    answered = bool(rows or unanswerable)
    written = [*(report.write(out) if out and answered else []), *(followups.write(out) if out and followups else [])]
    if as_json:
        click.echo(json.dumps({**report.as_dict(), **({"conversations": followups.as_dict()} if followups else {})}))
        return
    if answered:
        click.echo(report.markdown())
    if followups:
        click.echo(followups.markdown())
    for path in written:
        click.echo(f"Wrote {path}")


@click.command("train-reader")
@click.argument("households", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the ranker (default: the reader_model setting, which the reader loads).")
@pass_app
def train_reader(app: App, households: tuple[Path, ...], out: Path | None) -> None:
    """Train the offline reader's evidence ranker on households whose answers are known.

    Each HOUSEHOLDS folder holds records plus qa.jsonl (and time-questions.jsonl,
    unanswerable.jsonl); every question is asked through the chat's own retrieval and the ranker
    learns which quoted line answers it, and below which probability to abstain. Default: the
    sample household and the training households of a checkout (data/household, data/train/*/).
    Never train on the held-out household under data/eval/: it measures the reader.

    \b
    Examples:
      household train-reader
      household train-reader data/household ~/our-records-with-answers --out ranker.json
      HOUSEHOLD_READER_MODEL=ranker.json household eval-answers qa.jsonl --corpus ~/our-records
    """
    from chatbot.reader_training import TrainingSet, development_households, score, train_reader as train
    from household.settings import REPO_ROOT

    folders = households or development_households(REPO_ROOT / "data")
    sets = [TrainingSet.folder(folder) for folder in folders]
    model, examples = train(app.settings, app.taxonomy, sets, progress=True)
    path = out or app.settings.reader_model
    model.save(path)
    accuracy, abstention = score(model, examples)
    click.echo(f"Trained on {len(examples)} questions from {len(sets)} households: answer accuracy {accuracy:.1%}, "
               f"abstention {abstention:.1%} (on the training questions; measure with `household eval-answers`)")
    click.echo(f"Threshold {model.threshold:.3f}, second unit within {model.second_within}. Wrote {path}")


def _evaluated(app: App, tmp: Path, corpus: Path | None) -> "Assistant":
    from chatbot.evaluation import evaluated_assistant

    return evaluated_assistant(app.settings, app.taxonomy, corpus, tmp)


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


commands = [ask, chat, search, eval_retrieval, eval_answers, train_reader, feedback, ui]
