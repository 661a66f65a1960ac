"""The MLflow store and registry as a newcomer and a nightly job meet them (issue 15).

Real processes on real SQLite stores: several trains at once on a new store, a store
or artifact folder this user cannot write, a command run from another folder, and one
registered model per data set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadmodel.cli import app
from leadmodel.config import load_config
from leadmodel.ingest import load_mapping
from leadmodel.io import write_table
from leadmodel.synthetic import generate
from leadmodel.tracking import list_versions, prepare_store
from leadmodel.train import model_name, train
from tests.conftest import REPO_ROOT

LEADMODEL = [sys.executable, "-m", "leadmodel"]
#: A small, quick run whose minimum-data rules let a 2,000-lead export be served.
FAST = {
    "tuning": {"trials": 1, "folds": 2},
    "readiness": {"bootstrap": 20, "min_leads": 100, "min_wins": 20, "min_per_outcome": 10},
}
#: What a user cannot act on, seen on stderr before (issue 15, point 6).
NOISE = (
    "UserWarning",
    "CloudPickle",
    " INFO ",
    "Downloading artifacts",
    "Successfully registered",
    "Created version",
    "Traceback",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2,000-lead export and the quick config, in a folder any user may read."""
    folder = Path(tempfile.mkdtemp(prefix="leadmodel-store-"))
    folder.chmod(0o755)
    data = write_table(generate(2_000, seed=5).export, folder / "leads.csv")
    config = folder / "fast.json"  # JSON is YAML
    config.write_text(json.dumps(FAST))
    for path in (data, config):
        path.chmod(0o644)
    yield data, config
    shutil.rmtree(folder, ignore_errors=True)


def _env(store: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{store}", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])
    for name in ("MLFLOW_LOGGING_LEVEL", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
        env.pop(name, None)  # the CLI's own defaults are under test
    return env


def _noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(n in line for n in NOISE)]


@pytest.mark.slow
def test_three_trains_at_once_on_a_new_store(tiny, tmp_path: Path) -> None:
    data, config = tiny
    store = tmp_path / "new.db"
    command = [*LEADMODEL, "train", "--data", str(data), "--config", str(config), "--json"]
    procs = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env=_env(store),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert _noise(err) == [], err  # and nothing a user cannot act on
    versions = sorted(json.loads(out)["model_version"] for out, _ in outs)
    assert versions == ["1", "2", "3"]
    assert sum(json.loads(out)["promoted"] for out, _ in outs) >= 1
    listed = subprocess.run(
        [*LEADMODEL, "models", "--json"], env=_env(store), capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["lead-scorer"]) == 3  # the store still works
    scored = subprocess.run(
        [*LEADMODEL, "score", "--data", str(data), "--out", str(tmp_path / "s.csv")],
        env=_env(store),
        capture_output=True,
        text=True,
    )
    assert scored.returncode == 0, scored.stderr
    assert _noise(scored.stderr) == [], scored.stderr  # loading a model is quiet too


def _as_other_user(env: dict[str, str]) -> list[str]:
    """Run as an unprivileged user (``nobody``): root ignores file permissions."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("setpriv") is None:  # pragma: no cover - util-linux is on CI
        pytest.skip("running as root without setpriv: no user for whom the store is read-only")
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import leadmodel.cli"], env=env, capture_output=True
    )
    if probe.returncode != 0:  # pragma: no cover - a checkout only root may read
        pytest.skip(f"user nobody cannot run this checkout: {probe.stderr[-200:]!r}")
    return prefix


def test_read_only_store_and_artifact_folder_give_one_line(tiny) -> None:
    data, config = tiny
    folder = Path(tempfile.mkdtemp(prefix="leadmodel-ro-"))
    try:
        store = folder / "mlflow.db"
        prepare_store(f"sqlite:///{store}")  # an existing store, built by its owner
        folder.chmod(0o755)
        store.chmod(0o644)  # others may read it, not write it
        env = _env(store, HOME=str(folder))
        command = [*_as_other_user(env), *LEADMODEL, "train", "--data", str(data)]
        command += ["--config", str(config)]
        ro = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        assert ro.returncode == 2, ro.stderr
        lines = ro.stderr.strip().splitlines()
        assert len(lines) <= 3 and "Traceback" not in ro.stderr, ro.stderr  # one wrapped line
        assert "read-only" in ro.stderr and "mlflow.db" in ro.stderr

        folder.chmod(0o777)
        store.chmod(0o666)  # the store is writable now, its artifact folder is not
        (folder / "mlruns").mkdir(mode=0o755)
        art = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        assert art.returncode == 2, art.stderr
        assert "Traceback" not in art.stderr
        assert "artifact folder" in art.stderr and "cannot be written" in art.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_command_in_another_folder_names_the_store_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the embedded default: ./mlflow.db
    runner = CliRunner()
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0 and str(tmp_path / "mlflow.db") in listed.output
    scored = runner.invoke(
        app, ["score", "--data", str(trained.data_path), "--out", str(tmp_path / "s.csv")]
    )
    assert scored.exit_code == 2
    assert f"no MLflow store at {tmp_path / 'mlflow.db'}" in scored.output
    assert "MLFLOW_TRACKING_URI" in scored.output
    assert list(tmp_path.iterdir()) == []  # no empty mlflow.db, no scores


def test_each_data_set_gets_its_own_registered_model(tiny, tmp_path: Path) -> None:
    assert load_mapping(REPO_ROOT / "data" / "mappings" / "x_education.yaml").model_name == (
        "x-education"
    )
    data, config = tiny
    canonical = train(data, config=config, experiment="per-data-set")
    assert canonical.model_name == "lead-scorer"
    champion = next(
        r["version"] for r in list_versions("lead-scorer") if "champion" in r["aliases"]
    )
    mapping = tmp_path / "acme_crm.yaml"  # a user's own export: named after the file
    mapping.write_text("rename:\n  website_visits: website_visits\n")
    other = train(data, mapping=mapping, config=config, experiment="per-data-set")
    assert other.model_name == "acme-crm" and other.model_version == "1"
    assert other.promoted, other.promotion_reason
    after = next(r["version"] for r in list_versions("lead-scorer") if "champion" in r["aliases"])
    assert after == champion  # the canonical data set's champion was not touched
    scored = CliRunner().invoke(
        app,
        ["score", "--data", str(data), "--mapping", str(mapping), "--out", str(tmp_path / "s.csv")]
        + ["--json"],
    )
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["model_uri"] == "models:/acme-crm@champion"
    named = tmp_path / "named.yaml"
    named.write_text("model_name: acme-hubspot\n")
    assert model_name(None, load_mapping(named), load_config(config)) == "acme-hubspot"
    assert model_name("mine", load_mapping(named), load_config(config)) == "mine"
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: 'a b/c'\n")
    out = CliRunner().invoke(app, ["validate", "--data", str(data), "--mapping", str(bad)])
    assert out.exit_code == 2 and "model_name" in out.output
