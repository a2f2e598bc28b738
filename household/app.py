"""What every command receives: the settings (read once) and the taxonomy (read on first use)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import click

from household.settings import Settings
from household.taxonomy import Taxonomy


@dataclass
class App:
    settings: Settings

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.load(self.settings.taxonomy_file)


pass_app = click.make_pass_decorator(App)
