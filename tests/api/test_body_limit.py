"""The API's overall limit on a request body: over it, a 413 naming the limit, answered without the
body being read (by its Content-Length, or counted as a chunked body arrives); the batch routes take
more, so that a real review batch of several MB passes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient
from served import serving

from marketpilot.analytics.reviews.corpora import data_root
from marketpilot.api.app import create_app
from marketpilot.config import get_settings

GOAL = "春节前唤醒90天未购的高价值客户，短信发8折券"


def client_for(home: Path, **limits: float) -> TestClient:
    settings = get_settings(home, api_keys=[HEADERS["X-API-Key"]], **limits)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def refusal(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 413, response.text[:500]
    return response.json()["error"]


def test_a_body_over_the_default_limit_is_refused_naming_the_limit(tmp_path):
    client = client_for(tmp_path / "home")
    body = json.dumps({"goal": GOAL, "padding": "x" * (2 * 1024 * 1024)}).encode()
    response = client.post(
        "/v1/campaigns/plan", content=body, headers=HEADERS | {"Content-Type": "application/json"}
    )
    assert response.request.headers["content-length"] == str(len(body))
    error = refusal(response)
    assert error["type"] == "ContentTooLarge"
    assert error["message"] == (
        "The request body is over 2 MiB (2,097,152 bytes), the most /v1/campaigns/plan takes."
    )
    assert "MARKETPILOT_API_MAX_BODY_MB" in error["hint"]
    # under the limit, the same route reads its body (here: the goal's own limit answers)
    small = client.post("/v1/campaigns/plan", json={"goal": "好" * 3000}, headers=HEADERS)
    assert small.status_code == 422


def test_a_chunked_body_without_content_length_is_counted_as_it_arrives(tmp_path):
    client = client_for(tmp_path / "home", api_max_body_mb=0.25)
    sent = []

    def chunks() -> Iterator[bytes]:
        yield json.dumps({"goal": GOAL, "padding": ""})[:-2].encode()
        for _ in range(64):
            sent.append(1)
            yield b"x" * 8192  # 512 KiB in all, twice the limit

    response = client.post(
        "/v1/campaigns/plan", content=chunks(), headers=HEADERS | {"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert refusal(response)["message"] == (
        "The request body is over 262,144 bytes, the most /v1/campaigns/plan takes."
    )


def test_the_limit_is_a_setting_and_the_batch_routes_take_more(tmp_path):
    """A day's reviews from a hotel (the ChnSentiCorp corpus, 7,000+ texts) is a few MB of JSON: over
    the general limit, inside the batch routes' own."""
    import pandas as pd

    reviews = pd.read_csv(data_root() / "reviews_zh" / "ChnSentiCorp_htl_all.csv.gz").dropna()
    texts = [t[:10_000] for t in reviews.review.astype(str)]
    body = {"texts": texts, "adapt": False}
    size = len(json.dumps(body, ensure_ascii=False).encode())
    assert size > 2 * 1024 * 1024
    client = client_for(tmp_path / "home")
    scored = client.post("/v1/reviews/sentiment", json=body, headers=HEADERS)
    assert scored.status_code == 200, scored.text[:300]
    assert scored.json()["rows"] == len(texts)
    # the same batch on a server whose operator set a lower batch limit
    strict = client_for(tmp_path / "home", api_max_batch_body_mb=1)
    error = refusal(strict.post("/v1/reviews/sentiment", json=body, headers=HEADERS))
    assert "over 1 MiB (1,048,576 bytes), the most /v1/reviews/sentiment takes" in error["message"]
    assert "MARKETPILOT_API_MAX_BATCH_BODY_MB" in error["hint"]


def test_the_dashboard_refuses_a_huge_form_with_its_error_page(tmp_path):
    client = client_for(tmp_path / "home", api_max_body_mb=0.01)
    form = {"key": "k" * 20_000}
    page = client.post("/ui/login", data=form)
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "10,485 bytes" in page.text


def test_the_openapi_schema_documents_the_413(tmp_path):
    schema = client_for(tmp_path / "home").get("/openapi.json").json()
    assert "413" in schema["paths"]["/v1/copy/check"]["post"]["responses"]


def _response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON of the server's answer, read until it closes or the body is complete."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split()[1]), json.loads(rest[:length])


def _headers(port: int, framing: str) -> bytes:
    return (
        f"POST /v1/campaigns/plan HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {HEADERS['X-API-Key']}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()


def test_a_real_server_answers_413_before_the_body_is_sent(tmp_path):
    """Over real HTTP (uvicorn): the client sends no body at all after declaring 200 MB, and then a
    chunked body that never ends; each gets its 413 while the server still waits for the rest."""
    env = {"MARKETPILOT_API_KEYS": HEADERS["X-API-Key"], "MARKETPILOT_API_MAX_BODY_MB": "0.5"}
    with serving(tmp_path / "home", env=env, log=tmp_path / "serve.log") as served:
        port = int(served.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(_headers(port, "Content-Length: 200000000"))
            status, body = _response(sock)
        assert status == 413
        assert "over 524,288 bytes, the most /v1/campaigns/plan takes" in body["error"]["message"]  # type: ignore[index]

        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(_headers(port, "Transfer-Encoding: chunked"))
            chunk = b"x" * 65536
            for _ in range(10):  # 640 KiB, and no last chunk: the body has not ended
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            status, body = _response(sock)
        assert status == 413
        assert body["error"]["type"] == "ContentTooLarge"  # type: ignore[index]


@pytest.mark.parametrize("route", ["/v1/decisions/uplift", "/v1/reviews/sentiment"])
def test_batch_routes_are_named_in_the_refusal(tmp_path, route):
    client = client_for(tmp_path / "home", api_max_batch_body_mb=0.001)
    error = refusal(client.post(route, json={"rows": [{"a": "1"}] * 200}, headers=HEADERS))
    assert f"the most {route} takes" in error["message"]
