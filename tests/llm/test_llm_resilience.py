"""Circuit breaker, throttling, timeouts and Retry-After through the full client, against the local
OpenAI-protocol server: every outcome of a call must leave the breaker able to recover."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest

from llm_server import OpenAITestServer, Reply
from marketpilot.config import Settings
from marketpilot.llm import (
    Client,
    Completion,
    LLMError,
    LLMRequest,
    LLMTransientError,
    LLMUnavailableError,
    Message,
    RetryPolicy,
    get_client,
)
from marketpilot.llm.resilience import CircuitBreaker

FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05)
HELLO = [Message(role="user", content="用一句话介绍保温杯")]


class ManualClock:
    """The breaker's clock, moved by the test instead of waiting out reset_after_s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def open_circuit(llm_server: OpenAITestServer, llm_settings: Settings) -> tuple[Client, ManualClock]:
    """A client whose circuit two 502s have opened, with the reset time already past (half open)."""
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=30, clock=clock)
    client = get_client(llm_settings, retry=FAST_RETRY, breaker=breaker)
    llm_server.script(Reply(status=502), Reply(status=502))
    with pytest.raises(LLMUnavailableError):
        client.complete(HELLO)
    assert breaker.state == "open"
    clock.now += 31
    assert breaker.state == "half_open"
    return client, clock


@pytest.mark.parametrize(
    "trial_reply",
    [
        Reply(status=400, body='{"error": {"message": "maximum context length is 4096 tokens"}}'),
        Reply(status=422, body="unprocessable"),
        Reply(body='{"choices": [ oops'),
    ],
    ids=["context-overflow", "422", "malformed-body"],
)
def test_trial_ending_in_a_non_transient_error_closes_the_circuit(
    llm_server: OpenAITestServer, llm_settings: Settings, trial_reply: Reply
) -> None:
    client, _ = open_circuit(llm_server, llm_settings)
    llm_server.script(trial_reply)
    with pytest.raises(LLMError) as caught:
        client.complete(HELLO)
    assert not isinstance(caught.value, LLMUnavailableError | LLMTransientError)
    # The server answered, so it is alive: the next call goes through instead of failing fast forever.
    assert client.breaker.state == "closed"
    assert client.complete(HELLO).text == "ok: 用一句话介绍保温杯"


def test_trial_ending_in_a_transient_error_reopens_then_a_later_trial_recovers(
    llm_server: OpenAITestServer, llm_settings: Settings
) -> None:
    client, clock = open_circuit(llm_server, llm_settings)
    llm_server.script(Reply(status=503))
    with pytest.raises(LLMUnavailableError):  # the trial failed; its retry finds the circuit open again
        client.complete(HELLO)
    assert client.breaker.state == "open"
    clock.now += 31
    assert client.complete(HELLO).text == "ok: 用一句话介绍保温杯"
    assert client.breaker.state == "closed"


def test_non_transient_errors_never_open_the_circuit(llm_server: OpenAITestServer, llm_settings) -> None:
    client = get_client(llm_settings, retry=FAST_RETRY, breaker=CircuitBreaker(failure_threshold=2))
    llm_server.script(*[Reply(status=400, body="bad request")] * 5)
    for _ in range(5):
        with pytest.raises(LLMError) as caught:
            client.complete(HELLO)
        assert caught.value.status == 400
    assert client.breaker.state == "closed" and len(llm_server.requests) == 5


@pytest.mark.parametrize(
    "trial_reply",
    [Reply(status=400, body="bad request"), Reply(text="半句话", stream_cut=True)],
    ids=["http-400", "cut-before-done"],
)
def test_streamed_trial_ending_in_an_error_frees_the_circuit(
    llm_server: OpenAITestServer, llm_settings: Settings, trial_reply: Reply
) -> None:
    client, _ = open_circuit(llm_server, llm_settings)
    llm_server.script(trial_reply)
    with pytest.raises(LLMError):
        list(client.stream(HELLO))
    assert client.breaker.state == "closed"
    assert "".join(client.stream(HELLO)) == "ok: 用一句话介绍保温杯"


def test_abandoned_streamed_trial_frees_the_circuit(llm_server: OpenAITestServer, llm_settings) -> None:
    client, _ = open_circuit(llm_server, llm_settings)
    llm_server.script("双十一大促，保温杯五折，满三百再减五十！")
    pieces = client.stream(HELLO)
    assert next(pieces) == "双十一大"
    pieces.close()  # the chat UI's user hit stop
    assert client.breaker.state == "closed"
    assert client.complete(HELLO).text == "ok: 用一句话介绍保温杯"
    (row,) = client.log.usage()
    assert (row.calls, row.errors) == (3, 1)  # the failed call, the stream cut short, the last call


def test_a_rate_limited_batch_never_opens_the_circuit(llm_server: OpenAITestServer, llm_settings) -> None:
    # Default breaker (8 consecutive failures): 48 throttles in a row would open it if they counted.
    client = get_client(llm_settings, retry=RetryPolicy(max_retries=8, base_delay_s=0.01))
    throttles = 48
    llm_server.script(*[Reply(status=429, headers={"Retry-After": "0.05"})] * throttles)
    requests = [LLMRequest(messages=[Message(role="user", content=f"#{i}")]) for i in range(64)]
    results = client.complete_many(requests, concurrency=16)

    assert [r.text if isinstance(r, Completion) else repr(r) for r in results] == [
        f"ok: #{i}" for i in range(64)
    ]
    assert llm_server.pending == 0 and len(llm_server.requests) == 64 + throttles
    assert client.breaker.state == "closed"


def test_retry_after_as_an_http_date_is_honoured(llm_server: OpenAITestServer, llm_settings) -> None:
    client = get_client(llm_settings, retry=FAST_RETRY)
    # HTTP dates have whole seconds: "now + 2 s" rounded down is 1 to 2 s away.
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    llm_server.script(Reply(status=503, headers={"Retry-After": when}), "好的")
    started = time.perf_counter()
    assert client.complete(HELLO).text == "好的"
    waited = time.perf_counter() - started
    assert 0.9 <= waited < 4  # FAST_RETRY's own backoff would be under 0.05 s
    assert len(llm_server.requests) == 2


def test_top_p_reaches_the_server(llm_server: OpenAITestServer, llm_settings) -> None:
    client = get_client(llm_settings, retry=FAST_RETRY)
    client.complete(HELLO, top_p=0.5)
    client.complete_many([LLMRequest(messages=HELLO, top_p=0.3)])
    assert "".join(client.stream(HELLO, top_p=0.8))
    assert [r["top_p"] for r in llm_server.requests] == [0.5, 0.3, 0.8]


def test_a_timeout_that_never_recovers_ends_as_a_clear_error_in_the_batch(
    tmp_path: Path, llm_server: OpenAITestServer
) -> None:
    def by_content(request: dict) -> Reply | str:
        content = request["messages"][-1]["content"]
        return Reply(text="来不及了", delay_s=1.0) if content == "slow" else f"echo {content}"

    llm_server.default = by_content
    client = get_client(
        llm_server.settings(tmp_path, llm_timeout_s=0.3), retry=RetryPolicy(max_retries=1, base_delay_s=0.01)
    )
    prompts = ["a", "slow", "b", "c"]
    results = client.complete_many(
        [LLMRequest(messages=[Message(role="user", content=p)]) for p in prompts], concurrency=4
    )

    timed_out = results[1]
    assert isinstance(timed_out, LLMTransientError) and timed_out.index == 1
    assert "no answer within the timeout" in str(timed_out)
    assert [r.text for i, r in enumerate(results) if i != 1] == ["echo a", "echo b", "echo c"]
    slow_calls = [r for r in llm_server.requests if r["messages"][-1]["content"] == "slow"]
    assert len(slow_calls) == 2  # 1 + max_retries
    (row,) = client.log.usage()
    assert (row.calls, row.errors) == (4, 1)
