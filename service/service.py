"""BentoML's entry point of the scoring service (``bentofile.yaml``: ``service/service.py``).

The code is in the package, :mod:`leadmodel.serving` (installed with the ``service``
extra); ``leadmodel serve`` serves it from any folder.
"""

from leadmodel.serving.service import LeadScorerService

__all__ = ["LeadScorerService"]
