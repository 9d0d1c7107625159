"""Every refusal of the API has one body shape, {"error": {"type", "message", "hint", "problems"}}:
FastAPI's own 422 ({"detail": [...]}, echoing the refused input), the API-key check's 401 and the
router's 404 and 405 are answered in it too, and the OpenAPI schema says so. No refusal names a path
on the server's disks: the home is `<home>`, anything else a file name."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from marketpilot.api import create_app
from marketpilot.api.paths import home_relative_text
from marketpilot.cli import app, run_app
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


def test_a_json_body_sent_without_the_json_content_type_is_refused_naming_the_header(tmp_path: Path) -> None:
    client = TestClient(create_app(get_settings(tmp_path / "home"), require_key=False))
    body = '{"texts": ["物流很快"]}'.encode()
    # curl -d sends a form; FastAPI reads a body as JSON only when the Content-Type says JSON
    for sent, named in [
        ({"content-type": "application/x-www-form-urlencoded"}, "application/x-www-form-urlencoded"),
        ({"content-type": "text/plain; charset=utf-8"}, "text/plain; charset=utf-8"),
        ({}, "no Content-Type"),
    ]:
        refused = client.post("/v1/reviews/sentiment", content=body, headers=sent)
        assert refused.status_code == 422
        # was "body: Input should be a valid dictionary or object to extract fields from"
        assert refused.json()["error"]["problems"] == [
            f"body: sent with {named}, so not read as JSON; send Content-Type: application/json"
        ]
    # the same header naming JSON is read, and JSON that is no object keeps the schema's words
    ok = client.post("/v1/reviews/sentiment", content=body, headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text
    listed = client.post("/v1/reviews/sentiment", json=[])
    assert listed.json()["error"]["problems"][0].startswith("body: Input should be a valid dictionary")


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
    assert health.status_code == 405 and health.headers["Allow"] == "GET, HEAD"  # HEAD for monitors
    assert health.json()["error"]["message"] == "POST is not allowed on /health; it takes GET, HEAD."
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


def test_error_responses_name_what_is_wrong_without_the_servers_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from marketpilot.analytics.recommend.serving import recommend_for_all
    from marketpilot.analytics.rfm import run_rfm
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path / "home")
    make_sample(settings, customers=200, seed=3)
    run_rfm(settings)
    recommend_for_all(settings, k=10)  # fitted, but not segmented
    client = TestClient(create_app(settings, require_key=False))
    brief = {"product_id": "NOPE", "segment": "all", "channel": "sms"}
    budget = {"rows": [{"channel": "微信", "spend": 100}], "total": 1000}
    cases = [
        ("GET", "/v1/products/NOPE/similar", None, 404, "'NOPE'"),
        ("GET", "/v1/reviews/insight?product=NOPE", None, 404, "no product 'NOPE'"),
        ("GET", "/v1/segments", None, 404, "No segmentation yet."),
        ("POST", "/v1/decisions/budget", budget, 400, "rows: no column 'revenue'"),
        # these two named the home in full: `… in the store at /tmp/…/home.`
        ("POST", "/v1/copy/brief", brief, 404, "No product 'NOPE' in the store at <home>."),
        ("POST", "/v1/decisions/promo", {}, 400, "(<home>/intel/segments.parquet is missing)"),
    ]
    for method, path, body, status, said in cases:
        answer = client.request(method, path, json=body)
        assert answer.status_code == status, (path, answer.text)
        assert said in answer.json()["error"]["message"], (path, answer.text)
        for server_path in (str(settings.home_dir), str(tmp_path), f"{tempfile.gettempdir()}/"):
            assert server_path not in answer.text, (path, answer.text)
    # The CLI's user is on the server: the same error names the home in full.
    monkeypatch.setattr(
        sys, "argv", ["marketpilot", "copy", "brief", "--product", "NOPE", "--home", str(tmp_path / "home")]
    )
    assert run_app(app) == 2
    said = f"No product 'NOPE' in the store at {settings.home_dir}."
    assert "".join(said.split()) in "".join(capsys.readouterr().err.split())  # terminal wrapping undone


def test_an_error_text_keeps_paths_in_the_home_and_only_names_files_outside_it(tmp_path: Path) -> None:
    home = tmp_path / "店铺 home"  # a space and Chinese in the home: matched whole, not cut at the space
    home.mkdir()
    # a sibling of the home is outside it: its file name only
    assert home_relative_text(f"{tmp_path}/shop-old/x.csv", tmp_path / "shop") == "x.csv"
    upload = Path(tempfile.gettempdir()) / "tmp8x2k" / "上传.csv"
    cases = {
        f"No product 'P1' in the store at {home}.": "No product 'P1' in the store at <home>.",
        f"{home}/intel/segments.parquet is missing": "<home>/intel/segments.parquet is missing",
        f"文件 {upload}：第 3 行缺少 'price' 列。": "文件 上传.csv：第 3 行缺少 'price' 列。",
        # a route a message names stays
        f"cannot read '{upload}'; see /v1/segments": "cannot read '上传.csv'; see /v1/segments",
        "满 200/减 20, CNY/month, http://127.0.0.1:8080/v1/chat": "满 200/减 20, CNY/month, http://127.0.0.1:8080/v1/chat",
    }
    for text, shown in cases.items():
        assert home_relative_text(text, home) == shown
