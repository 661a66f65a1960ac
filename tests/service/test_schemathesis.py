"""Property-based requests from the service's own OpenAPI document (schemathesis).

Valid and invalid requests are generated for every operation; none may get a 5xx, and
every response must match the schema the document declares for its status code.
"""

from __future__ import annotations

from collections import Counter

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import Server

pytestmark = [pytest.mark.server, pytest.mark.slow]

#: Generated requests per operation and generation mode (valid / invalid).
EXAMPLES_PER_OPERATION = 50
#: The whole run must send at least this many requests.
MIN_REQUESTS = 300
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def api_schema(server: Server) -> schemathesis.BaseSchema:
    """The document the service serves at /docs.json, aimed at the live server."""
    schema = schemathesis.openapi.from_url(f"{server.url}/docs.json", timeout=30)
    schema.config.update(base_url=server.url)
    return schema


def test_generated_requests_get_no_5xx_and_match_the_schema(
    api_schema: schemathesis.BaseSchema, server: Server
) -> None:
    # schemathesis' pytest loader does not run on pytest 9 yet: drive Hypothesis directly.
    headers = {"Authorization": f"Bearer {server.token}"}
    sent: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                derandomize=True,
                database=None,
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                sent[f"{case.method} {case.path}"] += 1
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue  # no input to make invalid (GET /healthz, GET /model)
            except Exception as exc:  # collect every operation's failure, then fail once
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert sum(sent.values()) >= MIN_REQUESTS, dict(sent)
    assert {"POST /score", "POST /explain", "POST /whatif", "GET /model"} <= set(sent)
