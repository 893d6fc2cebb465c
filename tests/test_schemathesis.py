"""schemathesis against the live server's `/openapi.json`: every operation (REST, jobs,
metrics and the LangServe routes) with generated requests, authenticated as an admin. The bar:
no response is a server error (5xx)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case

from lockstep.server import create_app
from tests.servers import LiveServer, live_server

pytestmark = pytest.mark.slow


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


def test_the_live_server_serves_this_document(api: LiveServer) -> None:
    with api.http() as http:
        assert http.get("/openapi.json").json() == SPEC


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: Case, api: LiveServer) -> None:
    response = case.call(base_url=api.base, headers=api.headers("adm"), timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        f"\n{case.as_curl_command()}"
    )
