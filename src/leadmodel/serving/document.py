"""The OpenAPI document (``/docs.json``): leadmodel's version, description and token.

BentoML writes the document itself (its health endpoints and the routes of the mounted
FastAPI app), but with the Bento's tag as version ("None" when served from the
repository), a BentoML read-me as description, BentoML as contact and no security
scheme. :class:`DocumentedService`, the class ``@bentoml.service(service_class=...)``
builds the service with, takes that document and sets those fields; every path and
schema stays as BentoML and FastAPI write them. The API routes declare that they need
the token themselves (:data:`BEARER_SECURITY`, FastAPI's ``openapi_extra``).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import attrs
import bentoml

import leadmodel

#: Name of the security scheme in ``components.securitySchemes``.
BEARER_SCHEME = "bearer"
#: The security requirement of an API operation: the bearer token.
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "The value of LEADMODEL_API_TOKEN, sent as `Authorization: Bearer <token>` "
            "(required when the service runs with a token)."
        ),
    }
}


def package_version() -> str:
    """The installed leadmodel version (in a Bento, where it is copied, the module's)."""
    try:
        return metadata.version("leadmodel")
    except metadata.PackageNotFoundError:
        return leadmodel.__version__


class DocumentedService(bentoml.Service[Any]):
    """A BentoML service whose OpenAPI document describes leadmodel's API.

    The description is the service's ``description`` (``@bentoml.service(description=)``).
    """

    @property
    def openapi_spec(self) -> Any:
        spec = super().openapi_spec
        info = attrs.evolve(
            spec.info,
            version=package_version(),
            description=self.description or spec.info.description,
            contact=None,
        )
        components = {**spec.components, "securitySchemes": SECURITY_SCHEMES}
        return attrs.evolve(spec, info=info, components=components)
