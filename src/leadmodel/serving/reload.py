"""Hot reload: the service follows the registry alias it serves, without a restart.

Free of BentoML. :class:`ModelWatcher` polls the registry every ``reload_seconds`` for the
version the alias (``models:/NAME@ALIAS``) points to. When it has moved, the new version
is loaded in the watcher's thread and must pass the start checks (it loads as a
:class:`~leadmodel.model.FunnelModel` and scores a lead, :meth:`Scorer.check
<leadmodel.serving.scoring.Scorer.check>`) before ``swap`` puts it in service: one
attribute assignment, so a request answers wholly with the old model or wholly with the
new one and none fails. A version that fails to load or to check is not swapped in: one
error line, the old model keeps serving, and that version is not tried again (the alias
moving on to another version is). A fixed version is never polled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from mlflow import MlflowClient

from leadmodel import tracking
from leadmodel.i18n import _
from leadmodel.serving.scoring import Scorer, alias_of

logger = logging.getLogger("leadmodel.service")


class ModelWatcher:
    """Poll the registry for the alias served; load, check and swap in what it moved to."""

    def __init__(
        self,
        uri: str,
        interval: float,
        current: Callable[[], Scorer],
        swap: Callable[[Scorer], None],
    ) -> None:
        alias = alias_of(uri)
        if alias is None:
            raise ValueError(
                _("{uri}: not an alias URI (models:/NAME@ALIAS); nothing to follow").format(uri=uri)
            )
        self.uri, self.interval, self.alias = uri, interval, alias
        self.current, self.swap = current, swap
        self.refused: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)

    def start(self) -> ModelWatcher:
        self._thread.start()
        return self

    def check(self) -> str | None:
        """One poll; the version swapped in, or None when nothing changed."""
        try:
            found = tracking.get_alias_version(MlflowClient(), *self.alias)
        except Exception as exc:  # the registry may be away for a while: keep serving
            logger.error("hot reload: cannot read %s (%s)", self.uri, type(exc).__name__)
            return None
        version = None if found is None else str(found)  # MLflow may give an int
        served = self.current().ref.version
        if version is None or version == served or version in self.refused:
            return None
        try:
            scorer = Scorer.load(self.uri, version=version)
            scorer.check()
        except Exception as exc:  # any failure keeps the old model: one line, no trace
            self.refused.add(version)
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            logger.error(
                "hot reload: %s moved to version %s, which fails to load or check "
                "(%s: %s); still serving version %s",
                self.uri,
                version,
                type(exc).__name__,
                first,
                served,
            )
            return None
        self.swap(scorer)
        logger.info("hot reload: %s now serves version %s (was %s)", self.uri, version, served)
        return version

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def close(self) -> None:
        """Stop polling (a load in progress finishes first, within the join's wait)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(5.0, 2 * self.interval))
