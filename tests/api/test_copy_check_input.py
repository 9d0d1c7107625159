"""/v1/copy/check with the malformed briefs and oversized texts a client really sends: 4xx, never 500."""

from __future__ import annotations

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from marketpilot.api.app import create_app
from marketpilot.config import get_settings

BRIEF = {"name": "保温杯", "price": 89}


@pytest.fixture
def client(tmp_path) -> TestClient:
    settings = get_settings(tmp_path / "home", api_keys=[HEADERS["X-API-Key"]])
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("brief", "field"),
    [
        (BRIEF | {"attributes": [1, 2]}, "attributes"),
        (BRIEF | {"attributes": "[1, 2]"}, "attributes"),
        (BRIEF | {"discount": [1]}, "discount"),
        (BRIEF | {"offer": {"buy_n": 2, "nth_discount": {"a": 1}}}, "nth_discount"),
    ],
)
def test_a_brief_of_the_wrong_shape_is_a_client_error_naming_the_field(client, brief, field):
    response = client.post("/v1/copy/check", json={"text": "保温杯89元", "brief": brief}, headers=HEADERS)
    assert response.status_code == 422 and field in response.text


def test_text_length_is_bounded(client):
    ok = client.post("/v1/copy/check", json={"text": "保温杯" * 16_000, "brief": BRIEF}, headers=HEADERS)
    assert ok.status_code == 200 and ok.json()["ok"] is False
    too_long = client.post("/v1/copy/check", json={"text": "1" * 50_001, "brief": BRIEF}, headers=HEADERS)
    assert too_long.status_code == 422 and "50000" in too_long.text
