"""Starting without a model fails in one clear line; the service builds into a Bento."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port
from tests.service.conftest import leadmodel_bin, service_env

pytestmark = pytest.mark.slow

START_FAIL_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 300
MISSING_URI = "models:/no-such-model@champion"


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_no_model_fails_at_start_in_one_line(mlflow_store: str, tmp_path: Path) -> None:
    """`leadmodel serve` and plain `bentoml serve` alike: exit 1, one line, no traceback."""
    env = service_env(mlflow_store, tmp_path, LEADMODEL_MODEL_URI=MISSING_URI)
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    commands = {
        "leadmodel serve": [leadmodel_bin(), "serve", "--port", str(free_port())],
        "bentoml serve": [bentoml, "serve", "--port", str(free_port())],
    }
    started = {
        name: subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name, command in commands.items()
    }
    for name, process in started.items():
        out, err = process.communicate(timeout=START_FAIL_TIMEOUT_S)
        output = out.decode(errors="replace") + err.decode(errors="replace")
        assert process.returncode == 1, (name, output[-2000:])
        assert "Traceback" not in output, (name, output[-2000:])
        errors = _error_lines(err.decode(errors="replace"))
        assert len(errors) == 1, (name, output[-2000:])
        assert MISSING_URI in errors[0] and "leadmodel train" in errors[0], errors[0]


def test_bentoml_build_makes_a_bento(tmp_path: Path) -> None:
    env = service_env("sqlite:///unused.db", tmp_path)
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    build = subprocess.run(
        [bentoml, "build", "--output", "tag"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    listed = subprocess.run(
        [bentoml, "list", "-o", "json"], env=env, capture_output=True, text=True, check=True
    )
    assert "lead_scorer" in listed.stdout
    bentos = list((tmp_path / "bentoml" / "bentos" / "lead_scorer").glob("*/src"))
    assert len(bentos) == 1
    src = bentos[0]
    assert (src / "service" / "service.py").is_file()
    assert (src / "leadmodel" / "model.py").is_file()  # src layout: the package at the top
    assert not list(src.rglob("*.db"))  # no model or store packed: loaded from the registry
