"""Every refusal of the API has one body shape, {"error": {"type", "message", "hint", "problems"}}:
FastAPI's own 422 ({"detail": [...]}, echoing the refused input), the API-key check's 401 and the
router's 404 and 405 are answered in it too, and the OpenAPI schema says so."""

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
    # a body saved as GBK, not UTF-8: a 400 that says so (was "There was an error parsing the body")
    gbk = '{"texts": ["物流很快"]}'.encode("gbk")
    not_utf8 = client.post("/v1/reviews/sentiment", content=gbk, headers={"content-type": "application/json"})
    assert not_utf8.status_code == 400 and not_utf8.json()["error"] == {
        "type": "BadRequest",
        "message": "The request body is not UTF-8: byte 0xce at position 12 is not part of a character.",
        "hint": "send the body as JSON in UTF-8; text from a GBK source must be decoded as GBK first",
    }
    # no JSON at all: where it stops being JSON, and why
    broken = client.post(
        "/v1/reviews/sentiment", content='{"texts": ["a",]}', headers={"content-type": "application/json"}
    )
    assert broken.json()["error"]["problems"] == ["body: not JSON at character 15: Expecting value"]
    # thousands of bad rows: the first 20, the count in the message
    many = client.post("/v1/reviews/sentiment", json={"texts": [1] * 30})
    assert many.status_code == 422 and len(many.json()["error"]["problems"]) == 20
    assert "30 problems (the first 20 listed)" in many.json()["error"]["message"]


def test_the_schema_documents_the_422_body_it_sends(tmp_path: Path) -> None:
    schema = create_app(get_settings(tmp_path / "home"), require_key=False).openapi()
    ask = schema["paths"]["/v1/assistant/ask"]["post"]["responses"]["422"]
    assert ask["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_a_missing_or_unknown_api_key_is_answered_in_the_apps_error_shape(tmp_path: Path) -> None:
    client = TestClient(create_app(get_settings(tmp_path / "home", api_keys=["a-long-random-key"])))
    hint = "send one of the server's MARKETPILOT_API_KEYS in the X-API-Key header"
    body = {"texts": ["很好"]}
    missing = client.post("/v1/reviews/sentiment", json=body)
    # was {"detail": "missing or unknown API key: send one of MARKETPILOT_API_KEYS as X-API-Key"}
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "APIKey"
    assert missing.json() == {
        "error": {"type": "Unauthorized", "message": "The request has no X-API-Key header.", "hint": hint}
    }
    wrong = client.post("/v1/reviews/sentiment", json=body, headers={"X-API-Key": "a-long-random-kez"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "APIKey"
    assert wrong.json() == {
        "error": {"type": "Unauthorized", "message": "The X-API-Key is not a known key.", "hint": hint}
    }
    responses = client.get("/openapi.json").json()["paths"]["/v1/reviews/sentiment"]["post"]["responses"]
    assert responses["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


def test_an_unknown_path_or_method_is_answered_in_the_apps_error_shape(tmp_path: Path) -> None:
    client = TestClient(create_app(get_settings(tmp_path / "home"), require_key=False))
    hint = "the API's routes and their methods are listed at /docs (OpenAPI: /openapi.json)"
    nope = client.get("/v1/nope")  # was {"detail": "Not Found"}
    assert nope.status_code == 404
    assert nope.json() == {"error": {"type": "NotFound", "message": "No route /v1/nope.", "hint": hint}}
    # An unknown segmentation is the library's NotFoundError, told apart from a path with no route.
    assert client.get("/v1/segments").json()["error"]["type"] == "NotFoundError"
    # was {"detail": "Method Not Allowed"} with Allow: GET, though POST /v1/campaigns creates one
    put = client.put("/v1/campaigns", json={})
    assert put.status_code == 405 and put.headers["Allow"] == "GET, POST"
    assert put.json() == {
        "error": {
            "type": "MethodNotAllowed",
            "message": "PUT is not allowed on /v1/campaigns; it takes GET, POST.",
            "hint": hint,
        }
    }
    health = client.post("/health")
    assert health.status_code == 405 and health.headers["Allow"] == "GET"
    assert health.json()["error"]["message"] == "POST is not allowed on /health; it takes GET."
    # The dashboard keeps its HTML pages: an unknown page, and a missing static file.
    for path in ("/ui/nope", "/ui/static/nope.css"):
        page = client.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_the_dashboard_answers_a_wrong_method_with_its_html_error_page(tmp_path: Path) -> None:
    client = TestClient(create_app(get_settings(tmp_path / "home"), require_key=False))
    cases = [
        ("POST", "/ui/", "GET", "POST is not allowed on /ui/; it takes GET."),
        ("GET", "/ui/logout", "POST", "GET is not allowed on /ui/logout; it takes POST."),  # typed in
        ("POST", "/ui/static/app.css", "GET, HEAD", "it takes GET, HEAD."),
    ]
    for method, path, allow, said in cases:
        page = client.request(method, path)  # was {"detail": "Method Not Allowed"}
        assert page.status_code == 405 and page.headers["Allow"] == allow
        assert page.headers["content-type"].startswith("text/html") and said in page.text
        assert "出错了 Something is wrong" in page.text and "/ui/</p>" in page.text  # the hint
    # an action posted without htmx (a form with scripts off): the page says why, not {"detail": …}
    plain = client.post("/ui/assistant/ask", content="question=包邮吗")
    assert plain.status_code == 400 and "actions are sent by the dashboard&#39;s htmx" in plain.text
    # htmx swaps no error into the page and reads only the headers: it gets the app's JSON shape
    htmx = client.post("/ui/", headers={"HX-Request": "true"})
    assert htmx.status_code == 405 and htmx.headers["Allow"] == "GET"
    assert htmx.json()["error"]["message"] == "POST is not allowed on /ui/; it takes GET."


def test_the_dashboards_sign_in_refusals_carry_no_fastapi_detail(tmp_path: Path) -> None:
    client = TestClient(create_app(get_settings(tmp_path / "home", api_keys=["a-long-random-key"])))
    page = client.get("/ui/", follow_redirects=False)
    assert (page.status_code, page.headers["location"], page.text) == (303, "/ui/login", "")
    action = client.post("/ui/assistant/ask", headers={"HX-Request": "true"}, follow_redirects=False)
    assert action.status_code == 401 and action.headers["HX-Redirect"] == "/ui/login"
    assert action.json() == {
        "error": {
            "type": "Unauthorized",
            "message": "The dashboard sign-in is missing or has lapsed.",
            "hint": "sign in again: /ui/login",
        }
    }
