"""What every section shares: a throw-away data dir, the taxonomy, the dataset split, models loaded once.

Everything a section writes (stores, corpus copies, feedback) lands in a temporary data dir that
is deleted after the run. Two things are borrowed from the configured data dir, read-only in
spirit: `cache/` (the de-quantized SmolLM2 and embedding heads, so a run does not redo a 20 s
conversion) and `models/` (so the classifier measured is the active adapter, as the product uses).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.dataset import Split, load_examples, split
from household.settings import Settings
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from classifier.embedding import EmbeddingClassifier
    from classifier.llm import LLMClassifier


@dataclass(frozen=True)
class Sizes:
    """How much each section measures; the full run fits in 20 minutes on a quiet 2-core machine."""

    questions: int  # classification latency, one question at a time: (a), (b), (d)
    generated: int  # ... and (b), (c), (c'): the slow ones, on the first `generated` of those questions
    batch_questions: int  # classify_many throughput; 0 = the whole test split
    sequential: int  # throughput: questions classified one at a time, the baseline
    chunks: int  # ingest: the corpus replicated to this many chunks
    encode_sample: int  # raw SentenceTransformer.encode on this many of those chunk texts
    store_sizes: tuple[int, ...]  # retrieval
    distinct_texts: int  # retrieval: texts embedded once, reused with noise
    queries: int  # retrieval: timed queries per size and kind
    train_steps: int  # fine-tune: timed LoRA steps per variant
    train_batch: int
    answer_tokens: int  # memory: generator max_new_tokens; 0 = the setting's default
    receipts: int  # ocr: rendered receipts read back (clean, rotated, degraded in turn)
    paragraph_kb: int  # ingest: a one-paragraph text file of this many KB against ordinary files

    def override(self, assignments: list[str]) -> "Sizes":
        """These sizes with `name=value` assignments applied (`chunks=10000`, `store_sizes=1000,10000`)."""
        changes: dict[str, Any] = {}
        known = {f.name for f in fields(self)}
        for assignment in assignments:
            name, _, value = assignment.partition("=")
            if name not in known:
                raise ValueError(f"unknown size {name!r}; choose from {', '.join(sorted(known))}")
            try:
                numbers = tuple(int(v) for v in value.split(","))
            except ValueError:
                raise ValueError(f"{assignment!r}: the value must be a whole number") from None
            if any(n < 0 for n in numbers) or (len(numbers) > 1 and name != "store_sizes"):
                raise ValueError(f"{assignment!r}: give one non-negative whole number")
            changes[name] = numbers if name == "store_sizes" else numbers[0]
        return replace(self, **changes)


FULL = Sizes(
    questions=30, generated=20, batch_questions=0, sequential=10, chunks=10_000, encode_sample=300,
    store_sizes=(1_000, 10_000, 50_000), distinct_texts=2_000, queries=30, train_steps=4, train_batch=16,
    answer_tokens=0, receipts=24, paragraph_kb=20_480,
)
QUICK = Sizes(
    questions=2, generated=2, batch_questions=8, sequential=2, chunks=40, encode_sample=40,
    store_sizes=(100, 300), distinct_texts=80, queries=3, train_steps=1, train_batch=4, answer_tokens=8,
    receipts=8, paragraph_kb=100,
)


class Workspace:
    """One run's shared state; sections read sizes, settings and models from it and never reload a model."""

    def __init__(self, source: Settings, root: Path, sizes: Sizes) -> None:
        self.source, self.root, self.sizes = source, root, sizes
        self.started = time.monotonic()
        data_dir = root / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        source.cache_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "cache").symlink_to(source.cache_dir.resolve(), target_is_directory=True)
        if source.models_dir.exists():
            (data_dir / "models").symlink_to(source.models_dir.resolve(), target_is_directory=True)
        self.settings = source.replace(data_dir=data_dir, chroma_url="")

    def say(self, message: str) -> None:
        """Progress on stdout, stamped with the time since the run started."""
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        print(f"[{minutes:02d}:{seconds:02d}] {message}", flush=True)

    def settings_for(self, name: str) -> Settings:
        """Settings whose data dir is a fresh folder of its own (one store per experiment), model cache shared."""
        data_dir = self.root / name
        data_dir.mkdir(parents=True)
        (data_dir / "cache").symlink_to(self.settings.cache_dir.resolve(), target_is_directory=True)
        return self.settings.replace(data_dir=data_dir)

    @property
    def smoke(self) -> bool:
        """A `--quick` run (fewer than 10 timed queries): the figures mean little, only that every step runs."""
        return self.sizes.queries < 10

    def corpus_paths(self, corpus_dir: Path, docs: list[str]) -> list[Path]:
        """What a section ingests: the whole corpus, or in a smoke test only the files `docs` names."""
        return sorted({corpus_dir / doc for doc in docs}) if self.smoke else [corpus_dir]

    def env(self, **settings: Any) -> dict[str, str]:
        """The environment a `household` subprocess gets: this run's data dir, offline, plus HOUSEHOLD_* overrides."""
        env = {k: v for k, v in os.environ.items() if k != "HOUSEHOLD_CONFIG"}
        env.update(HOUSEHOLD_DATA_DIR=str(self.settings.data_dir), HOUSEHOLD_PROFILE=self.settings.profile,
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
        env.update({f"HOUSEHOLD_{key.upper()}": str(value) for key, value in settings.items()})
        return env

    def household(self) -> list[str]:
        """The `household` console script of this interpreter's environment."""
        return [str(Path(sys.executable).with_name("household"))]

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.load(self.settings.taxonomy_file)

    @cached_property
    def split(self) -> Split:
        return split(load_examples(self.settings.questions_dir, self.taxonomy))

    @cached_property
    def embedder(self) -> "SentenceTransformer":
        from household.models import load_embedder

        self.say("loading the embedding model")
        return load_embedder(self.settings.embedding_model)

    @cached_property
    def embedding(self) -> "EmbeddingClassifier":
        """The product's embedding head: the active version's, else the default one (trained once, then cached)."""
        from classifier.registry import load_active

        self.say("loading the embedding classifier")
        return load_active(self.settings, self.taxonomy, kind="embedding", embedder=self.embedder)

    @cached_property
    def llm(self) -> "LLMClassifier":
        """The product's LLM classifier: the active adapter if one exists, else the un-tuned base model."""
        from classifier.registry import load_active

        self.say(f"loading the LLM classifier ({self.adapter})")
        return load_active(self.settings, self.taxonomy, kind="llm")

    @property
    def adapter(self) -> str:
        from classifier.registry import Registry

        active = Registry(self.settings.models_dir).active()
        return f"adapter {active.version}" if active else "un-tuned base model"

    def sizes_dict(self) -> dict[str, Any]:
        return asdict(self.sizes)
