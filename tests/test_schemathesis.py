"""schemathesis against the live server's `/openapi.json`: every operation (REST, jobs,
metrics and the LangServe routes) with generated requests, authenticated as an admin.

Positive and negative data (`GenerationMode.POSITIVE` and `NEGATIVE`), the examples and
coverage phases and `EXAMPLES` fuzzed requests per operation, then the stateful phase (the
document's links: a submitted job read and cancelled, a started thread read). The bar: no
response is a server error (5xx), and every response conforms to the document (its status,
content type and body schema are the ones documented).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lockstep.server import create_app
from tests.servers import LiveServer, live_server

pytestmark = pytest.mark.slow
EXAMPLES = 50
"""Fuzzed requests per operation."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    with live_server(f"sqlite:///{tmp / 'api.db'}", tmp, "", {"adm": "admin"}, steps=False) as s:
        yield s


def _spec() -> dict[str, Any]:
    """The server's OpenAPI document (the code's, so collection needs no running server; the
    live server below serves the same one, which the test checks)."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(f"sqlite:///{Path(tmp) / 'spec.db'}").openapi()


SPEC = _spec()
# The live feed of every job stays open by design (a client closes it): no test can wait for
# its end. Its twin per job (/jobs/{job_id}/events) is tested here.
schema = schemathesis.openapi.from_dict(SPEC).exclude(path="/jobs/events")
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
)


def test_the_live_server_serves_this_document(api: LiveServer) -> None:
    with api.http() as http:
        assert http.get("/openapi.json").json() == SPEC


def test_the_document_has_links_for_the_stateful_phase() -> None:
    links = SPEC["paths"]["/jobs"]["post"]["responses"]["202"]["links"]
    assert {link["parameters"]["job_id"] for link in links.values()} == {"$response.body#/id"}
    assert len(links) == 2


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # a failure prints its curl; shrinking is slow
)
def test_no_server_errors_and_no_schema_violations(case: Case, api: LiveServer) -> None:
    response = case.call(base_url=api.base, headers=api.headers("adm"), timeout=60)
    case.validate_response(response, checks=CHECKS)


def test_stateful_no_server_errors_and_no_schema_violations(api: LiveServer) -> None:
    base = schema.as_state_machine()

    class Workflow(base):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": api.base, "headers": api.headers("adm"), "timeout": 60}

        def validate_response(
            self,
            response: Response,
            case: Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    # The state machine draws its next requests from the live server's answers (links), and
    # those follow the server's timing (a job queued, running or finished answers cancel
    # differently). Hypothesis requires the same choices to generate the same data, so now
    # and then it stops a run with `FlakyStrategyDefinition`: a harness error raised before
    # any check failed (a 5xx or schema violation is raised as itself, at once, and is never
    # retried). Such a run is started again with fresh randomness, three runs at most.
    for attempt in range(3):
        try:
            Workflow.run(
                settings=settings(
                    max_examples=EXAMPLES,
                    stateful_step_count=5,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.generate],
                )
            )
            return
        except FlakyStrategyDefinition:
            if attempt == 2:
                raise
