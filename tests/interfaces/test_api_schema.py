"""Property-based tests of the API against its own OpenAPI schema (schemathesis): every
operation, with generated valid and invalid inputs, answers as the schema says and never
with a server error. Bounded and deterministic: few examples, no randomness, no training
(job submission is left out, and no worker runs)."""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from mlpilot.agent.settings import Settings
from mlpilot.interfaces.api import create_app
from tests.interfaces.api_fixtures import APPROVER, KEYS

# The schema is read when the module is collected, so the app gets a data directory of
# its own here (schemathesis' lazy fixture loader does not work with this pytest).
_app = create_app(Settings(data_dir=tempfile.mkdtemp(prefix="mlpilot-schema-"), api_keys=KEYS),
                  workers=0)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.exclude(path_regex=r"^/jobs(/upload)?$", method="POST").parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case):
    case.call_and_validate(headers=APPROVER)
