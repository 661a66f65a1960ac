"""MLflow: where runs go, the one model artifact, the registry and its aliases.

Nothing here runs at import time: the tracking URI is resolved and set only when a
function that needs it is called. Default store: ``sqlite:///mlflow.db`` in the working
directory (the registry needs a database backend); ``MLFLOW_TRACKING_URI`` points
elsewhere, e.g. at an ``mlflow server``.

An embedded SQLite store is created only by ``train``, under a file lock beside it, so
that several jobs may start on a new store at once; commands that only read never create
an empty store where there is none.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd
from filelock import FileLock, Timeout
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema

from leadmodel import i18n, schema
from leadmodel.config import DEFAULT_MODEL_NAME
from leadmodel.i18n import _
from leadmodel.model import FunnelModel

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_ENV = "LEADMODEL_MODEL_URI"
_ARTIFACT_KEY = "funnel"
_RUNTIME_PACKAGES = ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow", "joblib", "pyarrow")


def model_requirements() -> list[str]:
    """What the logged model needs, pinned: leadmodel itself (its code unpickles and runs
    the model), then the packages the fitted objects were made with, so
    ``mlflow models serve`` and ``mlflow.pyfunc.spark_udf`` rebuild the same environment."""
    return [f"{p}=={version(p)}" for p in ("leadmodel", *_RUNTIME_PACKAGES)]


_SQLITE = "sqlite:///"
#: How long a job waits for another one that is creating or upgrading the store.
STORE_LOCK_TIMEOUT_S = 600


class StoreError(Exception):
    """The MLflow store cannot be used as asked (one clear line naming it)."""


def tracking_uri() -> str:
    """The tracking URI in force: ``MLFLOW_TRACKING_URI`` or the embedded SQLite default.

    A relative SQLite path is made absolute, so that every message names the file.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    path = sqlite_file(uri)
    if path is not None and not uri.startswith(_SQLITE + "/"):
        query = uri.partition("?")[2]
        return _SQLITE + str(path) + (f"?{query}" if query else "")
    return uri


def sqlite_file(uri: str) -> Path | None:
    """The database file of an embedded ``sqlite:///`` store (absolute), else None."""
    if not uri.startswith(_SQLITE):
        return None
    name = uri[len(_SQLITE) :].split("?", 1)[0]
    if name in ("", ":memory:"):
        return None
    return Path(name).absolute()


def use_tracking(uri: str | None = None, write: bool = False) -> str:
    """Point MLflow at ``uri`` (default: :func:`tracking_uri`) and return it.

    ``write=False`` (reading): an embedded store that does not exist is not created;
    :class:`ModelNotFound` names the file looked for. ``write=True``: the store is
    created or upgraded under a file lock (see :func:`prepare_store`).
    """
    uri = uri or tracking_uri()
    if write:
        prepare_store(uri)
    else:
        path = sqlite_file(uri)
        if path is not None and not path.is_file():
            raise ModelNotFound(
                _(
                    "no MLflow store at {path} (tracking URI {uri}): run the command in the "
                    "folder where you trained, or set MLFLOW_TRACKING_URI to that store"
                ).format(path=path, uri=uri)
            )
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold the embedded store's file lock (``<store>.lock``); no-op for a server store."""
    path = sqlite_file(uri)
    if path is None:
        yield
        return
    # mode 0o666: every user who may write the store may also take its lock
    lock = FileLock(f"{path}.lock", timeout=STORE_LOCK_TIMEOUT_S, mode=0o666)
    try:
        lock.acquire()
    except Timeout:
        raise StoreError(
            _(
                "MLflow store {path}: another job held its lock ({path}.lock) for more than "
                "{seconds} s"
            ).format(path=path, seconds=i18n.number(STORE_LOCK_TIMEOUT_S))
        ) from None
    except OSError as exc:
        raise StoreError(_store_problem(path, exc)) from None
    try:
        yield
    finally:
        lock.release()


def prepare_store(uri: str) -> None:
    """Create or upgrade the embedded store once, under its file lock.

    MLflow builds a new SQLite store's tables on first use; two processes doing that at
    once leave it broken for good (alembic's temporary tables). The first job here
    builds it while the others wait; they then find the tables and go on. A folder or
    file that cannot be written gives one line.
    """
    path = sqlite_file(uri)
    if path is None:
        return
    if not path.parent.is_dir():
        raise StoreError(
            _("MLflow store {path}: the folder {folder} does not exist").format(
                path=path, folder=path.parent
            )
        )
    with store_lock(uri):
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        except Exception as exc:  # sqlalchemy/alembic errors arrive in many wrappers
            raise StoreError(_store_problem(path, exc)) from None
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise StoreError(_store_problem(path, PermissionError("read-only")))


def _store_problem(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, PermissionError) or "readonly" in text or "read-only" in text:
        return _(
            "MLflow store {path} is read-only for this user: point MLFLOW_TRACKING_URI "
            "at a store you can write, or fix the permissions of the file and its folder"
        ).format(path=path)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return _("MLflow store {path} cannot be used: {problem}").format(
        path=path, problem=f"{type(exc).__name__}: {first[:200]}"
    )


def start_experiment(name: str) -> str:
    """Make ``name`` the active experiment (created under the store lock) and check that
    its artifact folder can be written; returns the experiment id."""
    uri = mlflow.get_tracking_uri()
    with store_lock(uri):
        try:
            experiment = mlflow.set_experiment(name)
        except MlflowException as exc:
            raise StoreError(_store_problem(sqlite_file(uri) or Path(uri), exc)) from None
    folder = _local_folder(experiment.artifact_location)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise StoreError(
                _(
                    "MLflow artifact folder {folder} of experiment '{name}' cannot be written "
                    "({problem}): fix its permissions, or use another store"
                ).format(folder=folder, name=name, problem=exc.strerror or exc)
            ) from None
    return experiment.experiment_id


def _local_folder(location: str) -> Path | None:
    """The local folder of an artifact location (plain path or ``file:``), else None."""
    if location.startswith("file://"):
        return Path(location[len("file://") :])
    if location.startswith("file:"):
        return Path(location[len("file:") :])
    if "://" in location:
        return None
    return Path(location)


def default_model_uri(name: str | None = None) -> str:
    """The model commands use when none is given: ``LEADMODEL_MODEL_URI``, else the
    champion of ``name`` (a mapping's data set), else of ``lead-scorer``."""
    return os.environ.get(MODEL_ENV) or f"models:/{name or DEFAULT_MODEL_NAME}@{CHAMPION}"


class LeadScorer(mlflow.pyfunc.PythonModel):
    """The one model artifact: raw canonical lead rows in, scores out.

    Logged as code (``leadmodel/pyfunc_model.py``), never pickled.
    """

    def load_context(self, context: Any) -> None:
        self.model: FunnelModel = joblib.load(context.artifacts[_ARTIFACT_KEY])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Scores for raw canonical rows (MLflow checks the columns with the signature)."""
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
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "funnel.joblib"
        joblib.dump(model, path)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={_ARTIFACT_KEY: str(path)},
            signature=signature,
            input_example=example,
            pip_requirements=model_requirements(),
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
        pyfunc = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ModelNotFound(
            _(
                "no model at '{uri}' ({problem}); train one first with "
                "`leadmodel train --data PATH` (tracking URI: {store})"
            ).format(uri=uri, problem=str(exc).splitlines()[0][:160], store=tracking_uri())
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
    name, _sep, ver = ref.partition("/")
    return {"name": name, "version": ver or None, "alias": None}


@dataclass
class Registration:
    version: str
    promoted: bool
    reason: str
    champion_before: str | None


def get_alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points to (as text), or None."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def register(info: Any, name: str, by: str = "train") -> str:
    """Register a logged model (its ``ModelInfo``) under ``name``; returns the new version
    and moves ``challenger`` to it (recorded, ``by`` the job that ran).

    Under the store lock: jobs that register at the same moment get versions one by one.
    Through the client API, which reports nothing on stderr (the CLI says what happened).
    """
    client = MlflowClient()
    with store_lock(mlflow.get_registry_uri()):
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        mv = client.create_model_version(
            name, source=info.model_uri, run_id=info.run_id, model_id=info.model_id
        )
        _move(client, name, CHALLENGER, str(mv.version), by, _("registered by the run"))
    return str(mv.version)


def registered_names() -> list[str]:
    """Every registered model in the store, by name (none when there is no store yet)."""
    try:
        use_tracking()
    except ModelNotFound:
        return []
    return sorted(m.name for m in MlflowClient().search_registered_models())


def _check_version(client: MlflowClient, name: str, version: str) -> None:
    """One line naming the model or the version when either is not registered."""
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        names = registered_names()
        if name not in names:
            raise ModelNotFound(_no_such_model(name, names)) from None
        raise ModelNotFound(
            _("model '{name}' has no version {version}").format(name=name, version=version)
        ) from None


def _no_such_model(name: str, names: list[str]) -> str:
    """The line for a model name the registry does not have, naming the ones it has."""
    return _(
        "no registered model '{name}' in {store} (registered: {names}; choose one with --name)"
    ).format(name=name, store=mlflow.get_registry_uri(), names=", ".join(names) or _("none"))


def promote(name: str, version: str, by: str = "promote", reason: str = "") -> AliasMove | None:
    """Move the ``champion`` alias to ``version`` (by hand or after the gate) and record the
    move on that version; None when it is champion already (nothing moves)."""
    client = MlflowClient()
    _check_version(client, name, version)
    with store_lock(mlflow.get_registry_uri()):
        return _move(client, name, CHAMPION, str(version), by, reason)


# --- alias moves and their records ----------------------------------------------------------
#: Model-version tags that record an alias move to that version: this prefix, then the
#: move's UTC time, e.g. ``leadmodel.alias_move.20261201T230144.123456Z``; the value is
#: JSON: alias, from, at, by, reason.
MOVE_TAG_PREFIX = "leadmodel.alias_move."
_MOVE_KEY_TIME = "%Y%m%dT%H%M%S.%fZ"
#: What moves aliases: a training run's gate, a retrain's gate, a person, a rollback.
MOVERS = ("train", "retrain", "promote", "rollback")


class RegistryError(Exception):
    """An alias cannot be moved as asked (one clear line)."""


@dataclass(frozen=True)
class AliasMove:
    """One recorded move of an alias: to ``version``, from ``previous``, when, by what, why."""

    name: str
    alias: str
    version: str
    previous: str | None
    at: str  # UTC, ISO 8601
    by: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "from": self.previous,
            "at": self.at,
            "by": self.by,
            "reason": self.reason,
        }

    def line(self) -> str:
        was = f"v{self.previous}" if self.previous else "none"
        return f"{self.at[:19]} {self.alias} {was} -> v{self.version} by {self.by}: {self.reason}"


def _move(
    client: MlflowClient, name: str, alias: str, version: str, by: str, reason: str
) -> AliasMove | None:
    """Point ``alias`` at ``version`` and tag that version with the move (caller holds the
    store lock); None when the alias is there already."""
    if by not in MOVERS:
        raise ValueError(f"alias move by {by!r}: must be one of {', '.join(MOVERS)}")
    previous = get_alias_version(client, name, alias)
    if previous == version:
        return None
    now = pd.Timestamp.now(tz="UTC")
    at = now.isoformat(timespec="microseconds")
    move = AliasMove(name, alias, version, previous, at, by, reason)
    client.set_registered_model_alias(name, alias, version)
    record = {k: v for k, v in move.to_dict().items() if k not in ("name", "version")}
    key = MOVE_TAG_PREFIX + now.strftime(_MOVE_KEY_TIME)
    client.set_model_version_tag(name, version, key, json.dumps(record))
    return move


def alias_history(
    name: str, alias: str | None = None, client: MlflowClient | None = None
) -> list[AliasMove]:
    """Every recorded move of ``alias`` (default: of every alias) of model ``name``,
    oldest first; empty when nothing was recorded (or there is no such model).

    Without a ``client``, reads the store in force (:func:`tracking_uri`), creating none.
    """
    if client is None:
        try:
            use_tracking()
        except ModelNotFound:
            return []
        client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return []
    moves = []
    for mv in versions:
        for key, value in (mv.tags or {}).items():
            if not key.startswith(MOVE_TAG_PREFIX):
                continue
            record = json.loads(value)
            if alias is not None and record["alias"] != alias:
                continue
            moves.append(
                AliasMove(
                    name,
                    record["alias"],
                    str(mv.version),
                    record["from"],
                    record["at"],
                    record["by"],
                    record["reason"],
                )
            )
    return sorted(moves, key=lambda m: m.at)


def champion_line(moves: list[AliasMove]) -> list[str]:
    """The champions in force, oldest first, as recorded moves replay them.

    A move pushes its version; a rollback takes the version it left off the top. A
    champion set outside leadmodel (in the MLflow UI) has no record: :func:`rollback`
    puts it on top before it walks back.
    """
    line: list[str] = []
    for move in moves:
        if move.alias != CHAMPION:
            continue
        if move.by == "rollback" and line:
            line.pop()
        if not line or line[-1] != move.version:
            line.append(move.version)
    return line


def rollback(name: str, reason: str = "") -> AliasMove:
    """Move ``champion`` back to the champion before it (from the recorded moves) and
    record the move; rolling back again walks further back.

    Versions deleted since are skipped. :class:`RegistryError` when no earlier champion
    was recorded.
    """
    client = MlflowClient()
    with store_lock(mlflow.get_registry_uri()):
        current = get_alias_version(client, name, CHAMPION)
        if current is None:
            names = registered_names()
            if name not in names:
                raise ModelNotFound(_no_such_model(name, names))
            raise RegistryError(
                _("model '{name}' has no champion: nothing to roll back").format(name=name)
            )
        line = champion_line(alias_history(name, CHAMPION, client))
        if not line or line[-1] != current:
            line.append(current)  # moved outside leadmodel: no record, but it is in force
        for earlier in reversed(line[:-1]):
            if earlier != current and _exists(client, name, earlier):
                move = _move(client, name, CHAMPION, earlier, "rollback", reason)
                if move is not None:
                    return move
        raise RegistryError(
            _(
                "model '{name}': no previous champion recorded before v{version} "
                "(see `leadmodel aliases`); move it by hand with `leadmodel promote VERSION`"
            ).format(name=name, version=current)
        )


def _exists(client: MlflowClient, name: str, version: str) -> bool:
    try:
        client.get_model_version(name, version)
    except MlflowException:
        return False
    return True


def list_versions(name: str) -> list[dict[str, Any]]:
    """Versions of a registered model, newest first, with aliases and headline metrics."""
    try:
        use_tracking()
    except ModelNotFound:
        return []  # no store here yet: nothing registered
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
