from pathlib import Path

import pytest

from household.errors import ConfigError
from household.settings import PROFILES, Settings


def test_offline_profile_is_the_default(offline_data_dir: Path) -> None:
    settings = Settings.load()
    assert settings.profile == "offline"
    assert settings.classifier_model == PROFILES["offline"]["classifier_model"]
    assert settings.data_dir == offline_data_dir


def test_precedence_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "household.toml"
    config.write_text('top_k = 7\nmin_confidence = 0.3\n[retrieval]\nmax_distance = 0.9\n')
    monkeypatch.setenv("HOUSEHOLD_MIN_CONFIDENCE", "0.4")
    settings = Settings.load(config)
    assert (settings.top_k, settings.min_confidence, settings.max_distance) == (7, 0.4, 0.9)
    assert Settings.load(config, min_confidence=0.8).min_confidence == 0.8


def test_profile_from_env_switches_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOUSEHOLD_PROFILE", "qwen")
    settings = Settings.load()
    assert settings.classifier_model == "Qwen/Qwen3-0.6B"
    assert (settings.generator_backend, settings.generator_model) == ("ollama", "qwen3:4b")


def test_ollama_host_env_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://10.0.0.5:11434")
    assert Settings.load().ollama_host == "http://10.0.0.5:11434"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"HOUSEHOLD_TOP_K": "many"}, "top_k must be an integer"),
        ({"HOUSEHOLD_TOP_K": "0"}, "top_k must be from 1 to 100, got '0'"),
        ({"HOUSEHOLD_TOP_K": "-3"}, "top_k must be from 1 to 100"),
        ({"HOUSEHOLD_MIN_CONFIDENCE": "5"}, "min_confidence must be from 0 to 1"),
        ({"HOUSEHOLD_MAX_QUESTION_CHARS": "-1"}, "max_question_chars must be at least 1"),
        ({"HOUSEHOLD_UI_PORT": "99999"}, "ui_port must be from 1 to 65535"),
        ({"HOUSEHOLD_PROFILE": "gpt"}, "unknown profile"),
        ({"HOUSEHOLD_COLOUR": "red"}, "unknown setting 'colour'"),
        ({"HOUSEHOLD_CLASSIFIER": "magic"}, "classifier must be one of"),
        ({"HOUSEHOLD_THINK": "maybe"}, "think must be true or false"),
    ],
)
def test_bad_values_are_one_line_errors(env: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        Settings.load()


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml")


def test_a_config_file_named_by_the_environment_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOUSEHOLD_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="nope.toml does not exist"):
        Settings.load()


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("HOUSEHOLD_DATA_DIR", str(tmp_path / "afile"))
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        Settings.load()
