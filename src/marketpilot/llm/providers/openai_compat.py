"""Any server speaking OpenAI's `/v1/chat/completions`: vLLM, Ollama, llama.cpp server, DeepSeek,
Qwen/DashScope compatible mode, OpenAI. Configuration only: base URL, model, API key."""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any, Literal

import httpx

from marketpilot.config import Settings
from marketpilot.errors import UserError
from marketpilot.llm.base import Message, Usage
from marketpilot.llm.errors import LLMError, LLMTransientError
from marketpilot.llm.providers.base import GenerationParams, RawReply

JsonMode = Literal["json_schema", "json_object", "prompt"]
# Tried in this order; a server that rejects one (HTTP 400/422 naming response_format) gets the next.
# The schema is always in the prompt as well, so "prompt" still yields JSON, just unenforced.
_JSON_MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "prompt")
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number (fractions accepted) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def normalise_base_url(url: str) -> str:
    """The base URL without trailing slashes or a pasted `/chat/completions` (we append that ourselves);
    a URL without http:// or https:// is a configuration error, not a connection failure to retry."""
    base = url.strip().rstrip("/")
    base = base.removesuffix("/chat/completions").rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        raise UserError(
            f"MARKETPILOT_LLM_BASE_URL {url!r} does not start with http:// or https://.",
            hint="Give the full server URL including /v1, e.g. http://127.0.0.1:8000/v1",
        )
    return base


def _checked_api_key(api_key: str | None) -> str | None:
    key = api_key.strip() if api_key else None
    if key and not (key.isascii() and key.isprintable()):
        raise UserError(
            "MARKETPILOT_LLM_API_KEY contains characters that cannot be sent in an HTTP header "
            "(non-ASCII letters, spaces or control characters).",
            hint="Copy the key again from your provider's console; keys are plain ASCII like sk-...",
        )
    return key or None


def _json(response: httpx.Response) -> Any:
    """The body as JSON. Decoded as UTF-8 with replacement: a server that cut a multi-byte character
    in half (a reply stopped at max_tokens) must not make the whole reply unreadable."""
    return json.loads(response.content.decode("utf-8", errors="replace"))


def _error_text(payload: Any) -> str | None:
    """What an error body says: OpenAI's {"error": {"message"}}, {"error": "..."}, or {"message"/"detail"}."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    for key in ("message", "detail"):
        if isinstance(payload.get(key), str) and payload[key]:
            return str(payload[key])
    return None


# What an error in an HTTP 200 body (gateways, proxies, some servers) stands for, as the HTTP status
# that would have carried it: looked for in its code, then its type, then its message; first match wins.
_ERROR_WORDS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("quota", "billing", "balance"), 402),  # OpenAI sends these as 429, but waiting does not help
    (("auth", "api key", "api_key", "apikey"), 401),
    (("permission", "forbidden"), 403),
    (("rate_limit", "rate limit", "ratelimit", "too_many_requests", "too many requests", "throttl"), 429),
    (("overload", "capacity", "busy", "unavailable"), 503),
    (("timeout", "timed out", "time out"), 504),
    (("server_error", "server error", "internal"), 500),
    (("not_found", "not found", "does not exist"), 404),
    (("invalid", "context_length", "too long", "bad_request", "bad request"), 400),
)


def _error_status(payload: dict[str, Any]) -> int | None:
    """The HTTP status an error body stands for (see _ERROR_WORDS), or None when it does not say."""
    error = payload.get("error")
    fields = error if isinstance(error, dict) else payload
    for key in ("code", "status"):
        code = fields.get(key)
        if isinstance(code, int | str) and str(code).isdigit() and 400 <= int(code) < 600:
            return int(code)
    for key in ("code", "type", "message"):
        words = str(fields.get(key) or (error if key == "message" and isinstance(error, str) else "")).lower()
        for keys, status in _ERROR_WORDS:
            if any(k in words for k in keys):
                return status
    return None


def _body_error(
    payload: Any, what: str, *, raw: str, status: int | None = None, retry_after_s: float | None = None
) -> LLMError | None:
    """The error an error body (`{"error": …}` and no choices) reports, `what` saying where: transient
    (retried) when it stands for a rate limit, an overload, a server error or a timeout."""
    said = _error_text(payload)
    if not said or payload.get("choices"):
        return None
    message = f"{what}: {' '.join(said.split())[:300]}"
    stands_for = _error_status(payload)
    if stands_for is None:
        return LLMError(message, raw=raw, status=status)
    message += f" (taken as HTTP {stands_for})"
    if stands_for in _TRANSIENT_STATUS or stands_for >= 500:
        return LLMTransientError(message, raw=raw, status=stands_for, retry_after_s=retry_after_s)
    if stands_for in (401, 403):
        message += ": check MARKETPILOT_LLM_API_KEY"
    return LLMError(message, raw=raw, status=stands_for)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _said(response: httpx.Response) -> str:
    """The server's own words for an error message, as ": <words>" (a JSON error or an HTML page's
    title), or "" when it gave none."""
    try:
        text = _error_text(_json(response))
    except ValueError:
        title = _TITLE.search(response.text)
        text = (
            f"{title.group(1).strip()} (an HTML page: a proxy or web server, not the model server)"
            if title
            else None
        )
    return f": {' '.join(text.split())[:300]}" if text else ""


class OpenAICompatProvider:
    name = "openai_compat"

    def __init__(
        self, base_url: str, *, model: str | None = None, api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        api_key = _checked_api_key(api_key)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = normalise_base_url(base_url)
        self._has_key = api_key is not None
        self._timeout_s = timeout_s
        self._model = model
        self._json_mode: JsonMode = _JSON_MODES[0]
        self._lock = threading.Lock()
        # One pooled client shared by all threads of complete_many (httpx.Client is thread-safe).
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=128, max_keepalive_connections=64),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatProvider:
        if not settings.llm_base_url:
            raise UserError(
                "The openai_compat provider needs a server URL.",
                hint="Set MARKETPILOT_LLM_BASE_URL, e.g. http://127.0.0.1:8000/v1 (vLLM) or "
                "http://127.0.0.1:11434/v1 (Ollama).",
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_base_url, model=settings.llm_model, api_key=key, timeout_s=settings.llm_timeout_s
        )

    @property
    def json_mode(self) -> JsonMode:
        return self._json_mode

    @property
    def model(self) -> str:
        """The configured model, else the first one the server lists (vLLM/llama.cpp serve exactly one)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._first_served_model()
        return self._model

    def _first_served_model(self) -> str:
        response = self._send("GET", "/models")
        try:
            return str(self._payload(response, "/models")["data"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"{self.base_url}/models did not list a model: set MARKETPILOT_LLM_MODEL to the model "
                "to use (Ollama: `ollama pull <model>` first)",
                raw=response.text[:2000],
                status=response.status_code,
            ) from exc

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One request, read in full. httpx's timeout bounds each read, so a server (or proxy) that
        trickles bytes would never time out: the whole answer must also arrive within the timeout."""
        deadline = time.monotonic() + self._timeout_s
        try:
            with self._http.stream(method, path, json=body) as streamed:
                chunks = []
                for chunk in streamed.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise LLMTransientError(
                            f"{self.base_url}{path}: no answer within the timeout "
                            f"({self._timeout_s:g} s, MARKETPILOT_LLM_TIMEOUT_S): the reply was still "
                            "arriving"
                        )
        except httpx.TimeoutException as exc:
            raise LLMTransientError(f"{self.base_url}{path}: no answer within the timeout ({exc!r})") from exc
        except httpx.TransportError as exc:
            # a refused or unresolved connection is nearly always a server not started or a wrong address
            raise LLMTransientError(
                f"{self.base_url}{path}: connection failed ({exc!r}); is the server running, and is "
                "MARKETPILOT_LLM_BASE_URL its address?"
            ) from exc
        # The bytes are already decompressed: without Content-Encoding, httpx would decompress them again.
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() != "content-encoding"]
        response = httpx.Response(
            streamed.status_code, headers=headers, content=b"".join(chunks), request=streamed.request
        )
        self._raise_for_status(response, path)
        return response

    def _payload(self, response: httpx.Response, path: str) -> Any:
        """The body as JSON (None when it is not JSON). Some servers and gateways answer HTTP 200 with
        an error body instead of an error status: that raises as the status it stands for would."""
        try:
            payload = _json(response)
        except ValueError:
            return None
        error = _body_error(
            payload,
            f"{self.base_url}{path}: the server answered HTTP {response.status_code} with an error",
            raw=response.text[:4000],
            status=response.status_code,
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )
        if error is not None:
            raise error
        return payload

    def _raise_for_status(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        raw = response.text[:4000]
        where = f"{self.base_url}{path}: HTTP {status}{_said(response)}"
        if status in _TRANSIENT_STATUS or status >= 500:
            raise LLMTransientError(
                where,
                raw=raw,
                status=status,
                retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            )
        if status == 401 and not self._has_key:
            raise LLMError(
                f"{where}. The server needs an API key and none is set: set MARKETPILOT_LLM_API_KEY "
                "(or llm_api_key in marketpilot.toml)",
                raw=raw,
                status=status,
            )
        if status in (401, 403):
            raise LLMError(
                f"{where}. The server refused the key in MARKETPILOT_LLM_API_KEY: check that it is "
                "current and belongs to this server (and, for 403, may use this model)",
                raw=raw,
                status=status,
            )
        if status == 404:
            raise LLMError(
                f"{where}. Check MARKETPILOT_LLM_BASE_URL (it usually ends in /v1) and the model name",
                raw=raw,
                status=status,
            )
        raise LLMError(where, raw=raw, status=status)

    def _body(
        self, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.frequency_penalty:
            body["frequency_penalty"] = params.frequency_penalty
        if params.stop:
            body["stop"] = list(params.stop)
        if json_schema is not None and self._json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                # strict=False: OpenAI's strict mode rejects ordinary pydantic schemas (defaults, optionals).
                "json_schema": {
                    "name": str(json_schema.get("title", "output")),
                    "schema": json_schema,
                    "strict": False,
                },
            }
        elif json_schema is not None and self._json_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _downgrade_json_mode(self, error: LLMError) -> bool:
        """True when the server refused our response_format and a weaker mode is left to try."""
        raw = (error.raw or "").lower()
        refused = error.status in (400, 422) and any(
            k in raw for k in ("response_format", "json_schema", "json_object")
        )
        if not refused or self._json_mode == _JSON_MODES[-1]:
            return False
        self._json_mode = _JSON_MODES[_JSON_MODES.index(self._json_mode) + 1]
        return True

    def generate(
        self, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None
    ) -> RawReply:
        while True:
            try:
                # Parsed inside: a refusal of response_format may come as an error in an HTTP 200 body.
                return self._parse(
                    self._send("POST", "/chat/completions", self._body(messages, params, json_schema))
                )
            except LLMTransientError:
                raise
            except LLMError as exc:
                if json_schema is None or not self._downgrade_json_mode(exc):
                    raise

    def _parse(self, response: httpx.Response) -> RawReply:
        where, raw, status = f"{self.base_url}/chat/completions", response.text[:4000], response.status_code
        payload = self._payload(response, "/chat/completions")
        if isinstance(payload, dict) and payload.get("choices") == []:
            raise LLMError(
                f"{where}: the reply has no choices (a content filter may have blocked it)",
                raw=raw,
                status=status,
            )
        try:
            choice = payload["choices"][0]
            message = choice["message"]
            text = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                f"{where}: the reply is not an OpenAI chat completion (check MARKETPILOT_LLM_BASE_URL)",
                raw=raw,
                status=status,
            ) from exc
        if isinstance(text, list):  # content as parts: [{"type": "text", "text": "..."}]
            text = "".join(str(part.get("text") or "") for part in text if isinstance(part, dict))
        finish_reason = choice.get("finish_reason")
        if text is None and finish_reason == "length":
            text = ""  # a reasoning model spent every token thinking; the client says so
        if not isinstance(text, str):
            refusal = message.get("refusal")
            why = f"the model refused: {refusal}" if refusal else f"finish_reason {finish_reason!r}"
            raise LLMError(f"{where}: the reply has no message content ({why})", raw=raw, status=status)
        usage = payload.get("usage") or {}
        return RawReply(
            text=text,
            model=str(payload.get("model") or self.model),
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
            finish_reason=finish_reason,
        )

    def stream(self, messages: list[Message], params: GenerationParams) -> Generator[str, None, None]:
        """Text deltas from a server-sent-events reply (`stream: true`)."""
        body = {**self._body(messages, params, None), "stream": True}
        path = "/chat/completions"
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_status(response, path)
                yield from self._sse_deltas(response)
        except httpx.TimeoutException as exc:
            raise LLMTransientError(f"{self.base_url}{path}: stream stalled ({exc!r})") from exc
        except httpx.TransportError as exc:
            raise LLMTransientError(f"{self.base_url}{path}: stream broke off ({exc!r})") from exc

    def _sse_deltas(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
                error = _body_error(
                    event,
                    f"{self.base_url}/chat/completions: the server reported an error mid-stream",
                    raw=data[:2000],
                )
                if error is not None:
                    raise error
                # Azure's first chunk (prompt_filter_results) and usage chunks carry no choice.
                choices = event.get("choices") or []
                delta = (choices[0].get("delta") or {}) if choices else {}
                content = delta.get("content")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise LLMError("Malformed server-sent event", raw=data[:2000]) from exc
            if content:
                yield content
        raise LLMError("The stream ended without [DONE]: the reply may be incomplete")

    def label_logprobs(self, messages: list[Message], prefix: str, labels: Sequence[str]) -> dict[str, float]:
        """From the token log-probabilities of a short greedy reply (`logprobs` + `top_logprobs`, as
        vLLM, llama.cpp server, OpenAI and DeepSeek return them): at the first token past `prefix`,
        each label's log-probability is read off the listed alternatives. A label not listed gets the
        smallest listed value, an upper bound on its true one."""
        params = GenerationParams(temperature=0.0, max_tokens=len(prefix) + 8, seed=0)
        body = {**self._body(messages, params, None), "logprobs": True, "top_logprobs": 20}
        response = self._send("POST", "/chat/completions", body)
        try:
            content = self._payload(response, "/chat/completions")["choices"][0]["logprobs"]["content"]
            steps = [
                (str(c["token"]), {str(t["token"]): float(t["logprob"]) for t in c["top_logprobs"]})
                for c in content
            ]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"{self.base_url}/chat/completions returned no token logprobs (the server must support "
                "`logprobs` and `top_logprobs`)",
                raw=response.text[:4000],
                status=response.status_code,
            ) from exc
        return label_scores_at_prefix(steps, prefix, labels, raw=response.text[:4000])

    def close(self) -> None:
        self._http.close()


def _squash(text: str) -> str:
    return "".join(text.split())


def label_scores_at_prefix(
    steps: list[tuple[str, dict[str, float]]], prefix: str, labels: Sequence[str], *, raw: str = ""
) -> dict[str, float]:
    """Each label's log-probability at the first reply token that goes past `prefix` (whitespace
    ignored, so '{"label":"' matches '{"label": "'); `steps` is (token, {alternative: logprob}).
    A reply that drops the prefix is read at its first token that starts a label."""
    want = _squash(prefix)
    before = ""
    for token, alternatives in steps:
        text = before + _squash(token)
        if len(text) > len(want) and text.startswith(want):
            heads = {_squash(before + alt)[len(want) :]: lp for alt, lp in alternatives.items()}
            break
        head = _squash(token).strip('"')
        if head and not want.startswith(text) and any(label.startswith(head) for label in labels):
            heads = {_squash(alt).strip('"'): lp for alt, lp in alternatives.items()}
            break
        before = text
    else:
        raise LLMError(f"the reply never reached a label after {prefix!r}", raw=raw)
    floor = min(heads.values(), default=-100.0)
    scores = {}
    for label in labels:
        matched = [
            lp for head, lp in heads.items() if head and (label.startswith(head) or head.startswith(label))
        ]
        scores[label] = max(matched) if matched else floor
    return scores
