"""The gate in front of the API: bearer token, JSON content type and body size.

A pure ASGI middleware, so it runs before any parsing and costs one header look-up on
the happy path. It wraps only the API app: BentoML's health endpoints, ``/metrics`` and
the OpenAPI page stay open.

Its error lines are in the server's language (``LEADMODEL_LANG``): the request's own
``lang`` is in a body not read yet.

The token comes from the service's settings (``LEADMODEL_API_TOKEN``, read by
:func:`leadmodel.serving.settings.api_token`); the service checks it before any worker
starts, so a set-but-empty variable stops the server instead of leaving the API open.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from leadmodel.i18n import _
from leadmodel.serving.errors import Problem, error_body
from leadmodel.serving.settings import service_settings

#: The authentication scheme, compared case-insensitively (RFC 7235, section 2.1).
BEARER = b"bearer"
#: Largest request body accepted (1,000 leads with extra fields fit with room to spare).
MAX_BODY_BYTES = 2 * 1024 * 1024
JSON_MEDIA_TYPE = "application/json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def authorized(header: bytes, token: bytes) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>``.

    The scheme may be written in any case and followed by more than one space; the token
    must be exact, and is compared in constant time.
    """
    scheme, _space, credentials = header.partition(b" ")
    matches = hmac.compare_digest(credentials.lstrip(b" "), token)
    return matches and scheme.lower() == BEARER


def refusal(loc: str, message: str, status: int) -> JSONResponse:
    """A one-problem error response (``leadmodel.serving.api.ErrorResponse``)."""
    return JSONResponse(error_body([Problem(loc, None, None, message)]), status_code=status)


class RequestGuard:
    """Refuse a request before parsing: 401 without the token, 415 if not JSON, 413 if large.

    The token (the service's settings, read when the app starts) is compared in constant time
    (:func:`authorized`); without it the API is open. Bodies are read here, at most
    :data:`MAX_BODY_BYTES`, and replayed to the app, so an oversized body gets 413 however
    it is sent (with or without ``Content-Length``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        token = service_settings().api_token
        self.expected = token.encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if self.expected is not None and not authorized(
            headers.get(b"authorization", b""), self.expected
        ):
            response = refusal("authorization", _("missing or wrong bearer token"), 401)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE.encode():
            message = _("must be JSON (Content-Type: {media_type})").format(
                media_type=JSON_MEDIA_TYPE
            )
            await refusal("body", message, 415)(scope, receive, send)
            return
        body = await self._read_body(headers, receive)
        if body is None:
            limit = f"{MAX_BODY_BYTES // 1024 // 1024} MiB"
            message = _("larger than the {limit} limit").format(limit=limit)
            await refusal("body", message, 413)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _read_body(headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is known to exceed the limit."""
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)
