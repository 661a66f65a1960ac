"""MLflow: where runs go, the one model artifact, the registry and its aliases.

Nothing here runs at import time: the tracking URI is resolved and set only when a
function that needs it is called. Default store: ``sqlite:///mlflow.db`` in the working
directory (the registry needs a database backend); ``MLFLOW_TRACKING_URI`` points
elsewhere, e.g. at an ``mlflow server``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema

from leadmodel import schema
from leadmodel.model import FunnelModel

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_MODEL_NAME = "lead-scorer"
CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_ENV = "LEADMODEL_MODEL_URI"
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@{CHAMPION}"
_ARTIFACT_KEY = "funnel"
_RUNTIME_PACKAGES = ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow", "joblib", "pyarrow")


def tracking_uri() -> str:
    """The tracking URI in force: ``MLFLOW_TRACKING_URI`` or the embedded SQLite default."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def use_tracking(uri: str | None = None) -> str:
    """Point MLflow at ``uri`` (default: :func:`tracking_uri`) and return it."""
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def default_model_uri() -> str:
    """The model commands use when none is given: ``LEADMODEL_MODEL_URI`` or the champion."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL_URI


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's advice about type hints on ``predict`` (deliberately absent)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Tt]ype hint", category=UserWarning)
        yield


class LeadScorer(mlflow.pyfunc.PythonModel):
    """The one model artifact: raw canonical lead rows in, scores out."""

    def load_context(self, context):  # noqa: ANN001 - MLflow inspects these signatures
        self.model: FunnelModel = joblib.load(context.artifacts[_ARTIFACT_KEY])

    def predict(self, context, model_input, params=None):  # noqa: ANN001
        """Scores for raw canonical rows (untyped: MLflow validates with the signature)."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.model.predict(frame)


def _col_type(col: str, values: pd.Series) -> str:
    if col == schema.CREATED_AT or pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "double"
    return "string"


def model_signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """Signature naming the input columns, every one optional except ``lead_id``.

    Input types are left open (``AnyType``): a CRM export gives counts as integers or
    floats and ids as numbers or text; the model coerces them itself, the same way for
    every caller, and a missing or unknown value is scored as unknown.
    """
    inputs = Schema(
        [ColSpec(AnyType(), c, required=(c == schema.LEAD_ID)) for c in example.columns]
    )
    outputs = Schema([ColSpec(_col_type(c, output[c]), c) for c in output.columns])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(leads: pd.DataFrame, model: FunnelModel, rows: int = 3) -> pd.DataFrame:
    """A few raw rows with the columns the model reads (numbers as floats)."""
    fields = set(model.features.input_fields)
    cols = [c for c in leads.columns if c == schema.LEAD_ID or c in fields]
    example = leads[cols].head(rows).reset_index(drop=True).copy()
    for c in model.features.numeric_:
        if c in example:
            example[c] = example[c].astype(float)
    for c in model.features.categories_:
        if c in example:
            example[c] = example[c].astype(object).where(example[c].notna(), None)
    return example


def log_model(model: FunnelModel, example: pd.DataFrame, name: str = "model") -> Any:
    """Log the funnel model as one pyfunc artifact in the active run; returns ModelInfo."""
    output = model.predict(example)
    signature = model_signature(example, output)
    with tempfile.TemporaryDirectory() as tmp, _quiet_mlflow():
        path = Path(tmp) / "funnel.joblib"
        joblib.dump(model, path)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=LeadScorer(),
            artifacts={_ARTIFACT_KEY: str(path)},
            signature=signature,
            input_example=example,
            pip_requirements=[f"{p}=={version(p)}" for p in _RUNTIME_PACKAGES],
            metadata={"leadmodel": "requires the leadmodel package installed"},
        )


class ModelNotFound(Exception):
    """No model at the given URI (one clear line, says how to train one)."""


def load_funnel(
    uri: str | None = None, tracking: str | None = None
) -> tuple[FunnelModel, dict[str, Any]]:
    """Load the FunnelModel behind a model URI (default: the champion) and its description.

    ``tracking`` is the tracking/registry URI to resolve ``models:/`` against (default:
    :func:`tracking_uri`).
    """
    use_tracking(tracking)
    uri = uri or default_model_uri()
    try:
        with _quiet_mlflow():
            pyfunc = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ModelNotFound(
            f"no model at '{uri}' ({str(exc).splitlines()[0][:160]}); train one first with "
            f"`leadmodel train --data PATH` (tracking URI: {tracking_uri()})"
        ) from None
    model: FunnelModel = pyfunc.unwrap_python_model().model
    info = {"uri": uri, **describe_uri(uri)}
    return model, info


def describe_uri(uri: str) -> dict[str, Any]:
    """Registered name, version and alias behind a ``models:/`` URI, when it has them."""
    if not uri.startswith("models:/"):
        return {"name": None, "version": None, "alias": None}
    ref = uri[len("models:/") :]
    client = MlflowClient()
    if "@" in ref:
        name, alias = ref.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
        return {"name": name, "version": mv.version, "alias": alias}
    name, _, ver = ref.partition("/")
    return {"name": name, "version": ver or None, "alias": None}


@dataclass
class Registration:
    version: str
    promoted: bool
    reason: str
    champion_before: str | None


def get_alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points to, or None."""
    try:
        return client.get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


def register(model_uri: str, name: str) -> str:
    """Register a logged model under ``name``; returns the new version and tags it challenger."""
    mv = mlflow.register_model(model_uri, name)
    MlflowClient().set_registered_model_alias(name, CHALLENGER, mv.version)
    return str(mv.version)


def promote(name: str, version: str) -> None:
    """Move the ``champion`` alias to ``version`` (by hand or after the gate)."""
    client = MlflowClient()
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise ModelNotFound(f"model '{name}' has no version {version}") from None
    client.set_registered_model_alias(name, CHAMPION, str(version))


def list_versions(name: str) -> list[dict[str, Any]]:
    """Versions of a registered model, newest first, with aliases and headline metrics."""
    use_tracking()
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{name}'")
        aliases = client.get_registered_model(name).aliases  # search omits aliases
    except MlflowException:
        return []
    rows = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                metrics = client.get_run(mv.run_id).data.metrics
            except MlflowException:
                metrics = {}
        rows.append(
            {
                "version": str(mv.version),
                "aliases": sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
                "run_id": mv.run_id,
                "created": pd.Timestamp(mv.creation_timestamp, unit="ms").isoformat(),
                "close_roc_auc": metrics.get("close_roc_auc"),
                "close_brier": metrics.get("close_brier"),
                "accept_roc_auc": metrics.get("accept_roc_auc"),
            }
        )
    return rows
