"""Schemathesis against a live `graft serve`: no 5xx, responses match the OpenAPI document,
valid data accepted, invalid data rejected with a 4xx. Examples are bounded (a few seconds).

Driven through Schemathesis' Python API with Hypothesis directly (one test per operation and
generation mode) rather than its pytest plugin.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

OPERATIONS = [
    "POST /predict",
    "POST /feedback",
    "POST /v2/models/{model_name}/infer",
    "POST /v2/models/{model_name}/versions/{model_version}/infer",
    "GET /metadata",
    "GET /health/live",
    "GET /health/ready",
    "GET /v2",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{model_name}",
    "GET /v2/models/{model_name}/ready",
    "GET /v2/models/{model_name}/versions/{model_version}",
    "GET /v2/models/{model_name}/versions/{model_version}/ready",
]
EXAMPLES = {
    "POST /predict": 60,
    "POST /feedback": 40,
    "POST /v2/models/{model_name}/infer": 40,
    "POST /v2/models/{model_name}/versions/{model_version}/infer": 20,
}


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_every_operation_is_fuzzed(api_schema):
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms_to_the_contract(api_schema, server, label, mode):
    operation = api_schema.find_operation_by_label(label)
    if mode is schemathesis.GenerationMode.NEGATIVE and operation.method.upper() == "GET":
        pytest.skip("no parameters to make invalid")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES.get(label, 5),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(base_url=server.url, timeout=30)

    check()
