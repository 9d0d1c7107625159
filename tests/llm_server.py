"""A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions protocol, with scripted replies.

The one fake the LLM tests allow: it sits at the true system edge (the network), so the code under test
runs unchanged — httpx, retries, parsing, structured output, cache and ledger included.

    def test_something(llm_server, llm_settings):          # fixtures, available in every test
        llm_server.script('{"title": "保温杯"}', Reply(status=429, headers={"Retry-After": "1"}))
        client = get_client(llm_settings)                  # provider openai_compat -> this server
        ...
        assert llm_server.requests[0]["messages"][0]["role"] == "system"

Replies are consumed in order (`script(...)`); when the script is empty, `default` answers (by default:
a schema-valid example object when the request carries a JSON schema, else "ok: <last user message>").
A script entry is a `Reply`, a plain string (the reply text) or a function request-dict -> Reply | str.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from marketpilot.config import Settings, get_settings


@dataclass
class Reply:
    """One scripted answer. `body` (raw bytes/str) replaces the whole HTTP body, e.g. malformed JSON."""

    text: str = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    finish_reason: str = "stop"
    body: str | bytes | None = None
    # Streaming only: close the connection before `data: [DONE]`.
    stream_cut: bool = False
    # Plain replies: send half the body (after announcing all of it), then drop the connection.
    body_cut: bool = False
    # Plain replies: send the body a few bytes at a time, this many seconds apart (a stalling proxy).
    trickle_s: float = 0.0


Handler = Callable[[dict[str, Any]], "Reply | str"]
ScriptEntry = Reply | str | Handler


def json_reply(obj: Any, **kwargs: Any) -> Reply:
    return Reply(text=json.dumps(obj, ensure_ascii=False), **kwargs)


def logprob_reply(steps: list[tuple[str, dict[str, float]]]) -> Reply:
    """A reply made of `steps` (token, {alternative: logprob}, the token among them), carrying
    per-token `logprobs` with `top_logprobs` the way vLLM and OpenAI return them."""
    content = [
        {
            "token": token,
            "logprob": alternatives[token],
            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives.items()],
        }
        for token, alternatives in steps
    ]
    message = {"role": "assistant", "content": "".join(token for token, _ in steps)}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": {"content": content}}
    return Reply(body=json.dumps({"choices": [choice], "model": "test-model"}, ensure_ascii=False))


def schema_example(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A small instance of a JSON schema (objects, arrays, enums, $ref, anyOf): like pydantic-ai's
    TestModel, enough for tests of the logic around a structured call."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return schema_example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return schema_example(options[0], defs)
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: schema_example(sub, defs) for name, sub in props.items()}
    if kind == "array":
        return [schema_example(schema.get("items", {"type": "string"}), defs)] * max(
            1, schema.get("minItems", 1)
        )
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    return "示例" * max(1, schema.get("minLength", 1) // 2 + 1)


def default_handler(request: dict[str, Any]) -> Reply:
    fmt = request.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return json_reply(schema_example(fmt["json_schema"]["schema"]))
    users = [m["content"] for m in request.get("messages", []) if m.get("role") == "user"]
    return Reply(text=f"ok: {users[-1][:80] if users else ''}")


def _tokens(text: str) -> int:
    return max(1, len(text) // 3)


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) drops connections when a batch opens 64 at once; the client then
    # waits a full second for the SYN retry.
    request_queue_size = 256


class OpenAITestServer:
    """Start with `with OpenAITestServer() as server:` (or the `llm_server` fixture). `url` ends in /v1."""

    def __init__(self, model: str = "test-model", default: Handler = default_handler) -> None:
        self.model = model
        self.default = default
        self.requests: list[dict[str, Any]] = []  # every chat request body, in arrival order
        self.request_headers: list[dict[str, str]] = []  # their HTTP headers (names lower-cased)
        self.models = [model]  # what GET /v1/models lists
        self.reject_response_format = False  # answer 400 to response_format, like servers without it
        self._script: deque[ScriptEntry] = deque()
        self._lock = threading.Lock()
        self._httpd = _ThreadingServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="llm-test-server",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *entries: ScriptEntry) -> None:
        with self._lock:
            self._script.extend(entries)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def settings(self, home: Any, **overrides: Any) -> Settings:
        """Settings for a client that talks to this server."""
        values: dict[str, Any] = {
            "llm_provider": "openai_compat",
            "llm_base_url": self.url,
            "llm_model": self.model,
        }
        return get_settings(home, **(values | overrides))

    def __enter__(self) -> OpenAITestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, request: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.request_headers.append(headers)
            entry: ScriptEntry = self._script.popleft() if self._script else self.default
        if callable(entry):
            entry = entry(request)
        return Reply(text=entry) if isinstance(entry, str) else entry

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real servers (matters for throughput)
            # Headers and body leave in one write, without Nagle: otherwise every keep-alive request
            # waits ~40 ms for a delayed ACK and the server, not the client, is what gets measured.
            wbufsize = -1
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                return

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    models = [{"id": name, "object": "model"} for name in server.models]
                    self._send(200, {"object": "list", "data": models})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "request body is not JSON"}})
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if server.reject_response_format and "response_format" in request:
                    self._send(400, {"error": {"message": "response_format is not supported"}})
                    return
                reply = server._next_reply(request, {k.lower(): v for k, v in self.headers.items()})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    if reply.body is not None or reply.status != 200:
                        body = (
                            reply.body
                            if reply.body is not None
                            else {"error": {"message": f"HTTP {reply.status}"}}
                        )
                        self._send(reply.status, body, reply.headers)
                    elif request.get("stream"):
                        self._stream(request, reply)
                    else:
                        self._send(200, self._completion(request, reply), reply.headers, reply)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (timeout test); nothing to answer

            def _completion(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
                prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
                return {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", server.model),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.text},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": _tokens(prompt),
                        "completion_tokens": _tokens(reply.text),
                        "total_tokens": _tokens(prompt) + _tokens(reply.text),
                    },
                }

            def _send(
                self,
                status: int,
                body: Any,
                headers: dict[str, str] | None = None,
                reply: Reply | None = None,
            ) -> None:
                data = (
                    body
                    if isinstance(body, bytes)
                    else (
                        body.encode()
                        if isinstance(body, str)
                        else json.dumps(body, ensure_ascii=False).encode()
                    )
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if reply is not None and reply.body_cut:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif reply is not None and reply.trickle_s:
                    for start in range(0, len(data), 8):
                        self.wfile.write(data[start : start + 8])
                        self.wfile.flush()
                        time.sleep(reply.trickle_s)
                else:
                    self.wfile.write(data)

            def _stream(self, request: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")  # the body ends when the connection does
                self.end_headers()
                self.close_connection = True
                pieces = [reply.text[i : i + 4] for i in range(0, len(reply.text), 4)]
                for i, piece in enumerate(pieces):
                    chunk = {
                        "id": "chatcmpl-stream",
                        "object": "chat.completion.chunk",
                        "model": request.get("model", server.model),
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"content": piece},
                                "finish_reason": reply.finish_reason if i == len(pieces) - 1 else None,
                            }
                        ],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                if not reply.stream_cut:
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAITestServer]:
    """A started server; MARKETPILOT_LLM_* env vars point at it (so CLI calls in the test use it)."""
    with OpenAITestServer() as server:
        monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "openai_compat")
        monkeypatch.setenv("MARKETPILOT_LLM_BASE_URL", server.url)
        monkeypatch.setenv("MARKETPILOT_LLM_MODEL", server.model)
        yield server


@pytest.fixture
def llm_settings(llm_server: OpenAITestServer, home: Any) -> Settings:
    """Settings (temporary home) whose client talks to `llm_server`, whatever the fixture order."""
    return llm_server.settings(home)
