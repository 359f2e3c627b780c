"""schemathesis against the OpenAPI schema, in process, signed in with a bearer token, on a
brand with a little data: no operation answers with a server error, whatever it is sent."""

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from app.brands.models import Brand
from tests import corpus

pytestmark = pytest.mark.fuzz

EXAMPLES = 10  # per operation and mode (about fifty operations, two modes)


def test_no_operation_answers_with_a_server_error(
    app: FastAPI, client: TestClient, brand: Brand, operator_token: str
) -> None:
    files = [("files", (f"{i}.png", corpus.png(colour=(i * 60, 10, 10)))) for i in range(3)]
    client.post("/api/v1/brands/maison/assets", files=files)
    client.post("/api/v1/brands/maison/styleguides", files={"file": ("g.md", b"Prefer: navy\n")})
    auth = {"Authorization": f"Bearer {operator_token}"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=auth)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers(case: Case) -> None:
                response = case.call(headers=auth)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} {response.status_code}: "
                        f"{response.text[:200]}"
                    )

            try:
                answers()
            except Unsatisfiable:  # nothing of it can be made invalid (no parameters)
                assert mode == GenerationMode.NEGATIVE, operation.label
    assert operations > 40
    assert not failures, "\n".join(failures)
