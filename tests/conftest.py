"""Shared fixtures: repo paths, a temporary MLflow store, a small trained model."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
X_EDUCATION = REPO_ROOT.parent / "shared" / "datasets" / "x-education" / "Leads.csv"
X_EDUCATION_MAPPING = REPO_ROOT / "data" / "mappings" / "x_education.yaml"
SMALL_ROWS = 8_000
SMALL_SEED = 3
#: Tests pin LightGBM's training threads: on the 2-core CI machine the suite runs servers
#: beside training, and busy-waiting OpenMP threads would slow both (see LGBM_THREADS).
os.environ.setdefault("LEADMODEL_THREADS", "1")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def x_education_path() -> Path:
    if not X_EDUCATION.is_file():
        pytest.skip(f"real export not found at {X_EDUCATION}")
    return X_EDUCATION


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every test session tracks into its own embedded SQLite store, never ./mlflow.db."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.pop("LEADMODEL_MODEL_URI", None)
    yield uri
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@dataclass
class Trained:
    """A small model trained once per session in the session's MLflow store."""

    data_path: Path
    truth: pd.DataFrame
    result: object  # leadmodel.train.TrainResult
    model_name: str


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    from leadmodel.io import write_table
    from leadmodel.synthetic import generate

    out = tmp_path_factory.mktemp("small")
    synth = generate(SMALL_ROWS, seed=SMALL_SEED)
    path = write_table(synth.export, out / "leads.csv")
    return path, synth.truth


@pytest.fixture(scope="session")
def trained(small_export: tuple[Path, pd.DataFrame], mlflow_store: str) -> Trained:
    from leadmodel.train import train

    path, truth = small_export
    name = "lead-scorer-small"
    result = train(path, experiment="tests-small", register_name=name)
    return Trained(data_path=path, truth=truth, result=result, model_name=name)
