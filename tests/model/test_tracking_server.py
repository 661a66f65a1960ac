"""Training, registry and model loading against a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from leadmodel.tracking import load_funnel
from leadmodel.train import train
from tests.conftest import free_port

STARTUP_SECONDS = 90


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real tracking server (SQLite backend, served artifacts), stopped after the module."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--workers", "1",
        ],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.server
@pytest.mark.slow
def test_train_register_and_load_through_a_tracking_server(
    mlflow_server: str, small_export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    path, _ = small_export
    fast = tmp_path / "fast.yaml"  # the tracking server is under test, not the search
    fast.write_text("tuning: {trials: 1}\n")
    first = train(path, config=fast, experiment="server", register_name="served")
    again = train(path, config=fast, experiment="server", register_name="served")
    assert first.promoted and again.promoted, again.promotion_reason
    assert again.model_version == "2"

    client = mlflow.tracking.MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(again.run_id)
    assert run.data.metrics["close_roc_auc"] == pytest.approx(again.metrics["close"]["roc_auc"])
    assert client.get_model_version_by_alias("served", "champion").version == "2"

    model, info = load_funnel("models:/served@champion", tracking=mlflow_server)
    leads = pd.read_csv(path).head(20)
    np.testing.assert_allclose(
        model.predict(leads)["p_close"], again.model.predict(leads)["p_close"], rtol=1e-12
    )
    assert info["version"] == "2" and info["alias"] == "champion"

    # the logged pyfunc loads from the server in a fresh process, too
    out = tmp_path / "pred.csv"
    leads.to_csv(tmp_path / "leads.csv", index=False)
    code = (
        "import sys, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "m.predict(pd.read_csv(sys.argv[2])).to_csv(sys.argv[3], index=False)\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    subprocess.run(
        [sys.executable, "-c", code, "models:/served/2", str(tmp_path / "leads.csv"), str(out)],
        check=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    np.testing.assert_allclose(
        pd.read_csv(out)["p_close"], again.model.predict(leads)["p_close"], rtol=1e-9
    )
