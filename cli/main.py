"""`household`: the command line. Library errors become one-line messages here and only here."""

from __future__ import annotations

import logging
import os
import sys

# Idle OpenMP threads that spin steal the CPU from everything else on small shared machines
# (measured 2-5x slower classification and embedding); set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import click  # noqa: E402

from cli import chatbot, classifier, finetune, ingest  # noqa: E402
from household.app import App  # noqa: E402
from household.errors import HouseholdError  # noqa: E402
from household.settings import Settings  # noqa: E402


class HouseholdGroup(click.Group):
    """Turns the library's own exceptions into `Error: ...` and exit status 1, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HouseholdError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=HouseholdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default ./household.toml).")
@click.option("--profile", type=click.Choice(["offline", "qwen"]), help="Model profile; default offline.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where all state lives (store, adapters, feedback).")
@click.option("-v", "--verbose", is_flag=True, help="Show progress logs.")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, profile: str | None, data_dir: str | None, verbose: bool) -> None:
    """Ask questions about your household records, answered from your own documents.

    \b
    Typical first run (offline profile, bundled models):
      household ingest data/household     # read the sample records into the store
      household classify "who serviced the AC last summer"
      household ask "when did we replace the pool pump?"
      household ui                        # the chat in your browser

    Settings come from household.toml, then HOUSEHOLD_* environment variables, then these flags.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged PDF is listed in ingest's report; no repeats
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    try:
        settings = Settings.load(config_file, profile=profile, data_dir=data_dir)
    except HouseholdError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    ctx.obj = App(settings)


for command in (*classifier.commands, *ingest.commands, *chatbot.commands, *finetune.commands):
    main.add_command(command)
