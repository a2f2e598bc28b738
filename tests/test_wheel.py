"""The product installs as a wheel and runs outside the repository: data files travel as package data."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_classifies_from_another_directory(tmp_path: Path, taxonomy) -> None:
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)]
    subprocess.run(build, check=True, capture_output=True, cwd=tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    [wheel] = wheels.glob("household-*.whl")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    # The dependencies (torch, transformers, ...) come from this environment, as plain paths: its .pth
    # files, among them the editable install of the checkout, are not processed, so only the wheel's code runs.
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HOUSEHOLD_DATA_DIR": str(tmp_path / "state"), "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([python, "-c", "import household, classifier; print(household.__file__, classifier.__file__)"],
                           check=True, capture_output=True, text=True, cwd=elsewhere, env=env).stdout
    assert str(REPO) not in where and str(venv) in where
    result = subprocess.run([venv / "bin" / "household", "classify", "--json", "the pool pump is making a grinding noise"],
                            capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["category"] == "pool" and answer["code"] == taxonomy.find("pool").code
