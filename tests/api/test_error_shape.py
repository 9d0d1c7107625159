"""Every refusal of the API has one body shape, {"error": {"type", "message", "hint", "problems"}}:
FastAPI's own 422 ({"detail": [...]}, echoing the refused input) is answered in it too, and the
OpenAPI schema says so."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from marketpilot.api import create_app
from marketpilot.config import get_settings


def test_a_request_that_breaks_the_schema_is_answered_in_the_apps_error_shape(tmp_path: Path) -> None:
    client = TestClient(create_app(get_settings(tmp_path / "home"), require_key=False))
    bad = client.post("/v1/assistant/ask", json={"question": "", "历史": []})
    assert bad.status_code == 422
    error = bad.json()["error"]  # was {"detail": [{"type", "loc", "msg", "input"}, ...]}
    assert set(bad.json()) == {"error"} and error["type"] == "RequestValidationError"
    assert error["message"] == "The request does not match the API's schema: 2 problems."
    assert error["problems"] == [
        "body.question: String should have at least 1 character",
        "body.历史: Extra inputs are not permitted",
    ]
    # a query parameter; a lone surrogate (bytes that were not UTF-8) in a made-up field name
    query = client.get("/v1/campaigns/x/report?version=abc")
    assert query.json()["error"]["problems"][0].startswith("query.version: Input should be a valid integer")
    raw = '{"question": "好", "\\ud800": 1}'
    odd = client.post("/v1/assistant/ask", content=raw, headers={"content-type": "application/json"})
    assert odd.status_code == 422 and odd.json()["error"]["problems"][0].startswith("body: ")
    # thousands of bad rows: the first 20, the count in the message
    many = client.post("/v1/reviews/sentiment", json={"texts": [1] * 30})
    assert many.status_code == 422 and len(many.json()["error"]["problems"]) == 20
    assert "30 problems (the first 20 listed)" in many.json()["error"]["message"]


def test_the_schema_documents_the_422_body_it_sends(tmp_path: Path) -> None:
    schema = create_app(get_settings(tmp_path / "home"), require_key=False).openapi()
    ask = schema["paths"]["/v1/assistant/ask"]["post"]["responses"]["422"]
    assert ask["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
