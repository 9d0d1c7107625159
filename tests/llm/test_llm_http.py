"""The openai_compat provider through the full client, against a real local HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from llm_server import OpenAITestServer, Reply, json_reply, logprob_reply
from marketpilot.llm import (
    Client,
    LLMError,
    LLMOutputError,
    LLMRequest,
    LLMTransientError,
    LLMUnavailableError,
    Message,
    RetryPolicy,
    get_client,
    load_prompt,
)
from marketpilot.llm.resilience import CircuitBreaker

FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05)
HELLO = [Message(role="user", content="用一句话介绍保温杯")]


class Slogan(BaseModel):
    title: str = Field(min_length=2, max_length=30)
    score: int = Field(ge=1, le=5)


@pytest.fixture
def client(llm_settings) -> Iterator[Client]:
    with get_client(llm_settings, retry=FAST_RETRY) as client:
        yield client


def test_plain_reply_carries_text_usage_and_provenance(client: Client, llm_server: OpenAITestServer) -> None:
    llm_server.script("这款保温杯保温12小时。")
    prompt = load_prompt("llm_check", "zh")
    completion = client.complete(
        prompt.render(product="保温杯"), temperature=0.2, seed=7, stop=["\n"], prompt=prompt.ref
    )

    assert completion.text == "这款保温杯保温12小时。"
    assert (completion.provider, completion.model) == ("openai_compat", "test-model")
    assert completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0
    assert completion.prompt == prompt.ref and completion.finish_reason == "stop"
    sent = llm_server.requests[0]
    assert sent["messages"][0] == {"role": "system", "content": "你是一家网店的简洁助手。"}
    assert (sent["temperature"], sent["seed"], sent["stop"], sent["model"]) == (0.2, 7, ["\n"], "test-model")
    assert "frequency_penalty" not in sent  # only sent when asked for


def test_frequency_penalty_reaches_the_server(client: Client, llm_server: OpenAITestServer) -> None:
    llm_server.script("好")
    client.complete([Message(role="user", content="你好")], frequency_penalty=0.5, use_cache=False)
    assert llm_server.requests[0]["frequency_penalty"] == 0.5


def test_schema_goes_out_as_json_schema_and_comes_back_validated(client: Client, llm_server) -> None:
    llm_server.script(json_reply({"title": "暖心保温杯", "score": 5}))
    completion = client.complete(HELLO, schema=Slogan, temperature=0)

    assert completion.parsed == Slogan(title="暖心保温杯", score=5)
    sent = llm_server.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["title", "score"]
    assert "JSON" in sent["messages"][0]["content"]  # the schema is in the prompt too


def test_schema_invalid_then_valid_retries_with_the_validation_error(client: Client, llm_server) -> None:
    llm_server.script('```json\n{"title": "x", "score": 9}\n```', json_reply({"title": "保温杯", "score": 4}))
    completion = client.complete(HELLO, schema=Slogan)

    assert completion.parsed.score == 4
    retry = llm_server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '```json\n{"title": "x", "score": 9}\n```'}
    assert "title" in retry[-1]["content"] and "score" in retry[-1]["content"]
    assert completion.usage.completion_tokens > 2  # both attempts are counted


def test_never_valid_output_raises_output_error_with_raw_text(client: Client, llm_server) -> None:
    llm_server.script("不是JSON", "还是不是", "{broken")
    with pytest.raises(LLMOutputError) as caught:
        client.complete(HELLO, schema=Slogan)
    assert caught.value.raw == "{broken"
    assert caught.value.problems
    assert len(llm_server.requests) == 3  # bounded: 1 + output_retries


def test_truncated_structured_output_is_reported_as_cut_off(client: Client, llm_server) -> None:
    cut = Reply(text='{"title": "一款非常非常', finish_reason="length")
    llm_server.script(cut, cut, cut)
    with pytest.raises(LLMOutputError, match="max_tokens"):
        client.complete(HELLO, schema=Slogan, max_tokens=8)
    assert "截断" in llm_server.requests[1]["messages"][-1]["content"]


def test_truncated_free_text_is_returned_with_its_finish_reason(client: Client, llm_server) -> None:
    llm_server.script(Reply(text="这款保温杯", finish_reason="length"))
    completion = client.complete(HELLO, max_tokens=3)
    assert (completion.text, completion.finish_reason) == ("这款保温杯", "length")


def test_429_with_retry_after_is_honoured(client: Client, llm_server) -> None:
    llm_server.script(Reply(status=429, headers={"Retry-After": "0.4"}), "好的")
    started = time.perf_counter()
    assert client.complete(HELLO).text == "好的"
    assert time.perf_counter() - started >= 0.4
    assert len(llm_server.requests) == 2


def test_500s_then_success(client: Client, llm_server) -> None:
    llm_server.script(Reply(status=500), Reply(status=503), "终于好了")
    assert client.complete(HELLO).text == "终于好了"
    assert client.breaker.state == "closed"


def test_persistent_500_ends_as_transient_error_after_bounded_retries(client: Client, llm_server) -> None:
    llm_server.script(*[Reply(status=500, body="upstream exploded")] * 4)
    with pytest.raises(LLMTransientError) as caught:
        client.complete(HELLO)
    assert (caught.value.status, caught.value.raw) == (500, "upstream exploded")
    assert len(llm_server.requests) == 4  # 1 + max_retries


def test_timeout_is_retried_then_succeeds(tmp_path: Path, llm_server) -> None:
    client = get_client(llm_server.settings(tmp_path, llm_timeout_s=0.3), retry=FAST_RETRY)
    llm_server.script(Reply(text="太慢了", delay_s=1.0), "及时")
    assert client.complete(HELLO).text == "及时"


def test_malformed_body_is_a_clear_error_with_raw(client: Client, llm_server) -> None:
    llm_server.script(Reply(body='{"choices": [ oops'))
    with pytest.raises(LLMError, match="not an OpenAI chat completion") as caught:
        client.complete(HELLO)
    assert caught.value.raw == '{"choices": [ oops'
    assert len(llm_server.requests) == 1  # a protocol mismatch is not retried


def test_unauthorised_names_the_api_key_setting(client: Client, llm_server) -> None:
    llm_server.script(Reply(status=401))
    with pytest.raises(LLMError, match="MARKETPILOT_LLM_API_KEY"):
        client.complete(HELLO)


def test_server_without_response_format_gets_prompt_level_json(client: Client, llm_server) -> None:
    llm_server.reject_response_format = True
    llm_server.script(json_reply({"title": "保温杯", "score": 3}))
    assert client.complete(HELLO, schema=Slogan).parsed.score == 3
    assert "response_format" not in llm_server.requests[-1]
    assert "JSON" in llm_server.requests[-1]["messages"][0]["content"]


def test_streamed_reply_arrives_in_pieces(client: Client, llm_server) -> None:
    llm_server.script("双十一大促，保温杯五折！")
    pieces = list(client.stream(HELLO))
    assert len(pieces) > 1 and "".join(pieces) == "双十一大促，保温杯五折！"
    assert llm_server.requests[0]["stream"] is True


def test_stream_cut_before_done_is_an_error(client: Client, llm_server) -> None:
    llm_server.script(Reply(text="半句话", stream_cut=True))
    with pytest.raises(LLMError, match="DONE"):
        list(client.stream(HELLO))


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        settings = server.settings(tmp_path)
    client = get_client(settings, retry=RetryPolicy(max_retries=1, base_delay_s=0.01))
    with pytest.raises(LLMTransientError, match="connection failed"):
        client.complete(HELLO)


def test_circuit_opens_after_consecutive_failures_and_fails_fast(tmp_path: Path, llm_server) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=60)
    client = get_client(llm_server.settings(tmp_path), retry=FAST_RETRY, breaker=breaker)
    llm_server.script(*[Reply(status=502)] * 10)
    # The circuit opens during the first request's retries; the second request never reaches the server.
    for _ in range(2):
        with pytest.raises(LLMUnavailableError, match="circuit open"):
            client.complete(HELLO)
    assert len(llm_server.requests) == 2
    assert breaker.state == "open"


def test_fallback_provider_answers_when_primary_is_down(tmp_path: Path) -> None:
    with OpenAITestServer(model="backup") as backup:
        from marketpilot.llm.providers.openai_compat import OpenAICompatProvider

        dead = OpenAICompatProvider("http://127.0.0.1:9/v1", model="main", timeout_s=0.5)
        client = Client(dead, fallback=OpenAICompatProvider(backup.url, model="backup"), retry=FAST_RETRY)
        backup.script("备用模型的回答")
        completion = client.complete(HELLO)
    assert (completion.text, completion.model) == ("备用模型的回答", "backup")


def test_complete_many_keeps_order_and_loses_nothing(client: Client, llm_server) -> None:
    def by_content(request: dict) -> Reply | str:
        content = request["messages"][-1]["content"]
        if content.startswith("bad"):
            return Reply(status=400, body="bad request")
        if content.startswith("slow"):
            return Reply(text=f"echo {content}", delay_s=0.2)
        return f"echo {content}"

    llm_server.default = by_content
    prompts = [f"{'bad' if i % 7 == 3 else 'slow' if i % 5 == 0 else 'q'}-{i}" for i in range(40)]
    seen: list[int] = []
    results = client.complete_many(
        [LLMRequest(messages=[Message(role="user", content=p)]) for p in prompts],
        concurrency=8,
        on_result=lambda i, _: seen.append(i),
    )

    assert len(results) == 40 and sorted(seen) == list(range(40))
    for i, (p, result) in enumerate(zip(prompts, results, strict=True)):
        if p.startswith("bad"):
            assert isinstance(result, LLMError) and result.index == i and result.status == 400
        else:
            assert result.text == f"echo {p}"


def test_complete_many_with_transient_failures_everywhere_still_answers_each(
    client: Client, llm_server
) -> None:
    llm_server.script(*[Reply(status=503)] * 5)
    results = client.complete_many(
        [LLMRequest(messages=[Message(role="user", content=f"#{i}")]) for i in range(12)]
    )
    assert [r.text for r in results] == [f"ok: #{i}" for i in range(12)]


def test_cache_hit_only_for_deterministic_requests(client: Client, llm_server) -> None:
    llm_server.script(json_reply({"title": "保温杯", "score": 4}), "一", "二")
    first = client.complete(HELLO, schema=Slogan, temperature=0)
    again = client.complete(HELLO, schema=Slogan, temperature=0)
    assert not first.cached and again.cached and again.parsed == first.parsed and again.cost == 0
    assert len(llm_server.requests) == 1

    sampled = [client.complete(HELLO, temperature=0.8).text for _ in range(2)]
    assert sampled == ["一", "二"]  # temperature > 0 without seed: never served from cache


def test_cache_key_includes_params_and_can_be_disabled(tmp_path: Path, llm_server) -> None:
    client = get_client(llm_server.settings(tmp_path), retry=FAST_RETRY)
    client.complete(HELLO, seed=1)
    client.complete(HELLO, seed=2)
    client.complete(HELLO, seed=1, max_tokens=10)
    assert len(llm_server.requests) == 3
    uncached = get_client(llm_server.settings(tmp_path, llm_cache=False), retry=FAST_RETRY)
    uncached.complete(HELLO, seed=1)
    assert len(llm_server.requests) == 4


def test_ledger_rows_count_tokens_cost_and_errors(tmp_path: Path, llm_server) -> None:
    prices = {"test-model": {"input": 1.0, "output": 2.0}}
    client = get_client(llm_server.settings(tmp_path, llm_prices=prices), retry=FAST_RETRY)
    prompt = load_prompt("llm_check", "en")
    llm_server.script("A fine thermos.", Reply(status=400))
    ok = client.complete(prompt.render(product="a thermos"), prompt=prompt.ref, temperature=0)
    client.complete(prompt.render(product="a thermos"), prompt=prompt.ref, temperature=0)  # cached
    with pytest.raises(LLMError):
        client.complete(HELLO)

    assert ok.cost == pytest.approx((ok.usage.prompt_tokens * 1.0 + ok.usage.completion_tokens * 2.0) / 1e6)
    rows = {row.prompt: row for row in client.log.usage()}
    check = rows["llm_check@1"]
    assert (check.calls, check.cached, check.errors) == (2, 1, 0)
    assert check.completion_tokens == ok.usage.completion_tokens and check.cost == pytest.approx(ok.cost)
    assert (rows[None].calls, rows[None].errors) == (1, 1)


def test_batch_with_progress_bar_reports_invalid_output_as_an_entry(client: Client, llm_server) -> None:
    from marketpilot.llm.progress import batch_progress

    def by_content(request: dict) -> str:
        content = request["messages"][-1]["content"]
        # Request #2 and every repair attempt of it get prose instead of JSON.
        if content == "#2" or "无效" in content:
            return "不是JSON"
        return json.dumps({"title": f"保温杯{content}", "score": 3}, ensure_ascii=False)

    llm_server.default = by_content
    requests = [LLMRequest(messages=[Message(role="user", content=f"#{i}")], schema=Slogan) for i in range(5)]
    with batch_progress(len(requests), "slogans") as on_result:
        results = client.complete_many(requests, concurrency=3, on_result=on_result)
    assert isinstance(results[2], LLMOutputError) and results[2].index == 2 and results[2].raw == "不是JSON"
    assert [r.parsed.title for i, r in enumerate(results) if i != 2] == [f"保温杯#{i}" for i in (0, 1, 3, 4)]


def test_label_logprobs_reads_the_token_after_the_prefix(client: Client, llm_server) -> None:
    # The server tokenises '{"label": "neg"}' its own way: the label arrives fused with its quote.
    steps = [
        ('{"', {'{"': -0.01}),
        ("label", {"label": -0.01}),
        ('":', {'":': -0.01}),
        (' "neg', {' "neg': -0.22, ' "pos': -1.61, ' "n': -4.0}),
        ('"}', {'"}': -0.01}),
    ]
    llm_server.script(logprob_reply(steps))
    scores = client.label_logprobs(HELLO, '{"label": "', ("pos", "neg"))
    assert scores == {"pos": -1.61, "neg": -0.22}
    sent = llm_server.requests[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] >= 5 and sent["temperature"] == 0.0


def test_label_logprobs_label_missing_from_alternatives_gets_the_floor(client: Client, llm_server) -> None:
    steps = [('{"label": "', {'{"label": "': -0.1}), ("pos", {"pos": -0.05, "positive": -3.2, "好": -6.5})]
    llm_server.script(logprob_reply(steps))
    assert client.label_logprobs(HELLO, '{"label": "', ("pos", "neg")) == {"pos": -0.05, "neg": -6.5}


def test_label_logprobs_from_a_server_without_logprobs_is_a_clear_error(client: Client, llm_server) -> None:
    llm_server.script('{"label": "pos"}')
    with pytest.raises(LLMError, match="logprobs"):
        client.label_logprobs(HELLO, '{"label": "', ("pos", "neg"))


def test_label_logprobs_is_retried_on_transient_errors(client: Client, llm_server) -> None:
    steps = [('{"label":"', {'{"label":"': -0.1}), ("neg", {"neg": -0.3, "pos": -1.4})]
    llm_server.script(Reply(status=503), logprob_reply(steps))
    assert client.label_logprobs(HELLO, '{"label": "', ("pos", "neg")) == {"pos": -1.4, "neg": -0.3}
