"""Starting without a model or with an empty token fails in one clear line; no token is
warned about; the service builds into a Bento."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from leadmodel.serving.settings import EMPTY_TOKEN, NO_TOKEN, TOKEN_ENV
from tests.conftest import REPO_ROOT, free_port
from tests.service.conftest import leadmodel_bin, service_env

pytestmark = pytest.mark.slow

START_FAIL_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 300
MISSING_URI = "models:/no-such-model@champion"


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _start_both(
    env: dict[str, str], bentoml_env: dict[str, str] | None = None
) -> dict[str, subprocess.Popen[bytes]]:
    """`leadmodel serve` and plain `bentoml serve`, started at once (CPU time is short)."""
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    commands = {
        "leadmodel serve": ([leadmodel_bin(), "serve", "--port", str(free_port())], env),
        "bentoml serve": ([bentoml, "serve", "--port", str(free_port())], bentoml_env or env),
    }
    return {
        name: subprocess.Popen(
            command, cwd=REPO_ROOT, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name, (command, run_env) in commands.items()
    }


def test_no_model_fails_at_start_in_one_line(mlflow_store: str, tmp_path: Path) -> None:
    """`leadmodel serve` and plain `bentoml serve` alike: exit 1, one line, no traceback.

    Without a token (``service_env`` unsets it) both also warn, once, that the API is open.
    """
    env = service_env(mlflow_store, tmp_path, LEADMODEL_MODEL_URI=MISSING_URI)
    for name, process in _start_both(env).items():
        out, err = process.communicate(timeout=START_FAIL_TIMEOUT_S)
        output = out.decode(errors="replace") + err.decode(errors="replace")
        assert process.returncode == 1, (name, output[-2000:])
        assert "Traceback" not in output, (name, output[-2000:])
        errors = _error_lines(err.decode(errors="replace"))
        assert len(errors) == 1, (name, output[-2000:])
        assert MISSING_URI in errors[0] and "leadmodel train" in errors[0], errors[0]
        warned = [line for line in output.splitlines() if NO_TOKEN in line]
        assert len(warned) == 1 and "WARNING" in warned[0], (name, output[-2000:])


def test_empty_token_fails_at_start_in_one_line(mlflow_store: str, tmp_path: Path) -> None:
    """A token set to nothing or whitespace stops the server at once; it never serves open.

    `leadmodel serve` refuses before starting BentoML; plain `bentoml serve` refuses before
    loading the model (the URI here does not exist: the token must be checked first).
    """
    env = service_env(mlflow_store, tmp_path, LEADMODEL_MODEL_URI=MISSING_URI)
    started = _start_both(env | {TOKEN_ENV: ""}, bentoml_env=env | {TOKEN_ENV: " \t"})
    for name, process in started.items():
        out, err = process.communicate(timeout=START_FAIL_TIMEOUT_S)
        output = out.decode(errors="replace") + err.decode(errors="replace")
        assert process.returncode != 0, (name, output[-2000:])
        assert "Traceback" not in output, (name, output[-2000:])
        errors = _error_lines(err.decode(errors="replace"))
        assert errors == [f"error: {EMPTY_TOKEN}"], (name, output[-2000:])


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
