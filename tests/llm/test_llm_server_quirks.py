"""What production OpenAI-compatible servers (vLLM, Ollama, llama.cpp server, DeepSeek, Qwen, gateways
and proxies in front of them) really send back, through the full client against the local server."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, field_validator

from llm_server import OpenAITestServer, Reply, json_reply, logprob_reply
from marketpilot.errors import UserError
from marketpilot.llm import (
    Client,
    LLMError,
    LLMOutputError,
    LLMRequest,
    LLMTransientError,
    Message,
    RetryPolicy,
    get_client,
)
from marketpilot.llm.providers.openai_compat import OpenAICompatProvider

FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.05)
HELLO = [Message(role="user", content="用一句话介绍保温杯")]


class Slogan(BaseModel):
    title: str
    score: int


@pytest.fixture
def client(llm_settings) -> Iterator[Client]:
    with get_client(llm_settings, retry=FAST_RETRY) as client:
        yield client


def completion_body(message: dict, finish_reason: str = "stop") -> str:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
    return json.dumps({"model": "test-model", "choices": [choice]}, ensure_ascii=False)


def sse(*events: object) -> str:
    return "".join(
        f"data: {e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)}\n\n" for e in events
    )


def delta(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


# -- error bodies ----------------------------------------------------------------------------------


OVERLOADED = '{"error": {"message": "Model is overloaded, try again", "type": "server_error"}}'


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (OVERLOADED, 500),
        ('{"error": {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}}', 429),
        ('{"error": {"message": "请求过于频繁", "code": 429}}', 429),
        ('{"error": "upstream request timed out"}', 504),
        ('{"code": "503", "message": "服务繁忙，请稍后再试"}', 503),
    ],
    ids=["overloaded", "rate-limit-code", "numeric-code", "bare-string", "top-level-code"],
)
def test_a_transient_error_in_an_http_200_body_is_retried(client: Client, llm_server, body, status) -> None:
    llm_server.script(Reply(body=body), "保温杯")
    assert client.complete(HELLO).text == "保温杯"
    assert len(llm_server.requests) == 2
    # and one that never clears ends as a transient error quoting the server, after the retries
    llm_server.script(*[Reply(body=body)] * 3)
    with pytest.raises(
        LLMTransientError, match=rf"answered HTTP 200 with an error: .+ \(taken as HTTP {status}\)"
    ) as caught:
        client.complete([Message(role="user", content="再来一次")])
    assert (caught.value.status, caught.value.raw) == (status, body)
    assert len(llm_server.requests) == 5 and llm_server.pending == 0


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            '{"error": {"message": "Incorrect API key provided: sk-xx", "type": "invalid_request_error", '
            '"code": "invalid_api_key"}}',
            r"Incorrect API key provided: sk-xx \(taken as HTTP 401\): check MARKETPILOT_LLM_API_KEY",
        ),
        (
            '{"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}',
            r"You exceeded your current quota \(taken as HTTP 402\)",
        ),
        ('{"error": {"message": "模型名称不存在", "type": "invalid_request_error"}}', "模型名称不存在"),
        ('{"error": "something odd happened"}', "something odd happened$"),
    ],
    ids=["bad-key", "quota", "invalid-request", "unknown"],
)
def test_a_permanent_error_in_an_http_200_body_is_not_retried(client: Client, llm_server, body, said) -> None:
    llm_server.script(Reply(body=body))
    with pytest.raises(LLMError, match=f"answered HTTP 200 with an error: {said}") as caught:
        client.complete(HELLO)
    assert not isinstance(caught.value, LLMTransientError) and caught.value.raw == body
    assert len(llm_server.requests) == 1


def test_a_rate_limit_in_an_http_200_body_honours_retry_after_and_keeps_the_circuit_closed(
    client: Client, llm_server
) -> None:
    rate_limited = Reply(
        body='{"error": {"message": "slow down", "code": 429}}', headers={"Retry-After": "0.3"}
    )
    llm_server.script(*[rate_limited] * 3)
    started = time.perf_counter()
    with pytest.raises(LLMTransientError, match="slow down"):
        client.complete(HELLO)
    assert time.perf_counter() - started >= 0.6 and client.breaker.state == "closed"


def test_a_response_format_refused_in_an_http_200_body_gets_the_next_json_mode(
    client: Client, llm_server
) -> None:
    refused = '{"error": {"message": "response_format json_schema is not supported", "code": 400}}'
    llm_server.script(Reply(body=refused), json_reply({"title": "暖心杯", "score": 4}))
    assert client.complete(HELLO, schema=Slogan).parsed == Slogan(title="暖心杯", score=4)
    assert llm_server.requests[1]["response_format"] == {"type": "json_object"}


def test_an_overloaded_primary_answering_http_200_falls_back(tmp_path: Path, llm_server) -> None:
    with OpenAITestServer(model="backup") as backup:
        primary = OpenAICompatProvider(llm_server.url, model="main")
        client = Client(primary, fallback=OpenAICompatProvider(backup.url, model="backup"), retry=FAST_RETRY)
        llm_server.script(*[Reply(body=OVERLOADED)] * 3)
        backup.script("备用模型的回答")
        completion = client.complete(HELLO)
        client.close()
    assert (completion.text, completion.model) == ("备用模型的回答", "backup")


def test_label_logprobs_retries_an_error_in_an_http_200_body(client: Client, llm_server) -> None:
    steps = [('{"label":"', {'{"label":"': -0.1}), ("neg", {"neg": -0.3, "pos": -1.4})]
    llm_server.script(Reply(body=OVERLOADED), logprob_reply(steps))
    assert client.label_logprobs(HELLO, '{"label": "', ("pos", "neg")) == {"pos": -1.4, "neg": -0.3}
    llm_server.script(
        Reply(body='{"error": {"message": "logprobs are not enabled", "code": "invalid_request"}}')
    )
    with pytest.raises(LLMError, match="with an error: logprobs are not enabled") as caught:
        client.label_logprobs(HELLO, '{"label": "', ("pos", "neg"))
    assert not isinstance(caught.value, LLMTransientError)


def test_a_proxys_html_502_page_is_retried_and_named_as_such(client: Client, llm_server) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
    llm_server.script(*[Reply(status=502, body=page, headers={"Content-Type": "text/html"})] * 3)
    with pytest.raises(LLMTransientError, match=r"HTTP 502: 502 Bad Gateway .*proxy") as caught:
        client.complete(HELLO)
    assert caught.value.raw == page and len(llm_server.requests) == 3  # 1 + max_retries


def test_a_4xx_error_message_carries_the_servers_own_words(client: Client, llm_server) -> None:
    llm_server.script(
        Reply(status=400, body='{"error": {"message": "maximum context length is 4096 tokens"}}')
    )
    with pytest.raises(LLMError, match="HTTP 400: maximum context length is 4096 tokens"):
        client.complete(HELLO)


def test_a_reply_without_choices_is_a_clear_error(client: Client, llm_server) -> None:
    llm_server.script(Reply(body='{"id": "x", "model": "test-model", "choices": []}'))
    with pytest.raises(LLMError, match="no choices"):
        client.complete(HELLO)


def test_a_refusal_with_null_content_says_so(client: Client, llm_server) -> None:
    llm_server.script(Reply(body=completion_body({"content": None, "refusal": "I can't help with that."})))
    with pytest.raises(LLMError, match="refused: I can't help with that"):
        client.complete(HELLO)


def test_content_sent_as_a_list_of_text_parts_is_joined(client: Client, llm_server) -> None:
    parts = [{"type": "text", "text": "保温"}, {"type": "text", "text": "杯"}]
    llm_server.script(Reply(body=completion_body({"content": parts})))
    assert client.complete(HELLO).text == "保温杯"


def test_a_multibyte_character_cut_in_half_does_not_lose_the_reply(client: Client, llm_server) -> None:
    # llama.cpp server stopped at max_tokens in the middle of "好" (e5 a5 bd).
    body = completion_body({"content": "你好"}, "length").encode().replace("好".encode(), b"\xe5\xa5")
    llm_server.script(Reply(body=body))
    completion = client.complete(HELLO, max_tokens=2)
    assert completion.text.startswith("你") and completion.finish_reason == "length"


def test_a_gzip_compressed_reply_is_read(client: Client, llm_server) -> None:
    # Servers behind nginx or a CDN often compress; the error page must be readable too.
    body = gzip.compress(completion_body({"content": "保温杯"}).encode())
    error = gzip.compress(b'{"error": {"message": "model not loaded"}}')
    gzipped = {"Content-Encoding": "gzip"}
    llm_server.script(Reply(body=body, headers=gzipped), Reply(status=400, body=error, headers=gzipped))
    assert client.complete(HELLO).text == "保温杯"
    with pytest.raises(LLMError, match="HTTP 400: model not loaded"):
        client.complete(HELLO)


# -- reasoning models --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "<think>\n用户想要一句话，要提到保温{12小时}。\n</think>\n\n保温12小时，冬天也暖心。",
        "<think>\n\n</think>\n\n保温12小时，冬天也暖心。",  # Qwen3 with thinking switched off
        "用户想要一句话。\n</think>\n\n保温12小时，冬天也暖心。",  # R1 template opened <think> in the prompt
    ],
    ids=["r1", "qwen3-empty", "closing-tag-only"],
)
def test_the_think_block_is_not_part_of_the_text(client: Client, llm_server, reply: str) -> None:
    llm_server.script(reply)
    assert client.complete(HELLO).text == "保温12小时，冬天也暖心。"


def test_braces_in_the_think_block_do_not_break_structured_output(client: Client, llm_server) -> None:
    llm_server.script(
        '<think>格式是 {"title": 字符串}，再想想```json```。</think>\n{"title": "暖心杯", "score": 4}'
    )
    completion = client.complete(HELLO, schema=Slogan)
    assert completion.parsed == Slogan(title="暖心杯", score=4)
    assert len(llm_server.requests) == 1  # no repair round trip


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=completion_body({"content": None, "reasoning_content": "嗯，让我想想……"}, "length")),
        Reply(text="<think>嗯，让我想想，保温杯的卖点有", finish_reason="length"),
    ],
    ids=["reasoning_content", "inline-think"],
)
@pytest.mark.parametrize("schema", [None, Slogan], ids=["text", "json"])
def test_reasoning_that_uses_up_max_tokens_says_to_raise_it(
    client: Client, llm_server, reply: Reply, schema: type[BaseModel] | None
) -> None:
    llm_server.script(reply)
    with pytest.raises(LLMOutputError, match=r"max_tokens=64 before any answer.*raise max_tokens"):
        client.complete(HELLO, schema=schema, max_tokens=64)
    assert len(llm_server.requests) == 1  # a repair prompt cannot fix a token limit


def test_a_stream_leaves_out_the_think_block(client: Client, llm_server) -> None:
    llm_server.script("<think>\n先想一想。\n</think>\n\n双十一大促，保温杯五折！")
    assert "".join(client.stream(HELLO)) == "双十一大促，保温杯五折！"


BARE = "用户想要一句话，提到{12小时}。\n</think>\n\n保温12小时，冬天也暖心。"  # thinking, then only </think>
ANSWER = "保温12小时，冬天也暖心。"


@pytest.mark.parametrize(
    "model", ["deepseek-r1:7b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "Qwen/QwQ-32B"]
)
def test_a_stream_of_a_model_that_thinks_in_the_prompt_holds_back_until_the_closing_tag(
    tmp_path: Path, llm_server, model: str
) -> None:
    with get_client(llm_server.settings(tmp_path, llm_model=model), retry=FAST_RETRY) as client:
        llm_server.script(BARE, "思考被关掉时的回答，很长很长。")
        assert "".join(client.stream(HELLO)) == ANSWER
        # thinking switched off: the reply has no tag and comes out whole, at its end
        assert list(client.stream(HELLO)) == ["思考被关掉时的回答，很长很长。"]


def test_a_bare_closing_tag_from_an_unknown_model_is_cut_and_its_next_streams_held_back(
    client: Client, llm_server
) -> None:
    llm_server.script(BARE, BARE)
    first = "".join(client.stream(HELLO))  # passed on live: the thinking is out before the tag arrives
    assert first.endswith(ANSWER) and BARE.split("</think>")[0].startswith(first[: -len(ANSWER)])
    assert "</" not in first
    assert "".join(client.stream(HELLO)) == ANSWER


def test_a_bare_closing_tag_seen_by_complete_holds_the_next_stream_back(client: Client, llm_server) -> None:
    llm_server.script(BARE, BARE)
    assert client.complete(HELLO).text == ANSWER
    assert "".join(client.stream(HELLO)) == ANSWER


def test_stream_chunks_without_choices_are_skipped(client: Client, llm_server) -> None:
    # Azure's first chunk carries only prompt_filter_results; usage chunks at the end carry no choice.
    first = {"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]}
    usage = {"id": "x", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    nothing = {"choices": [{"index": 0, "delta": None}]}
    llm_server.script(Reply(body=sse(first, nothing, delta("保温"), delta("杯"), usage, "[DONE]")))
    assert "".join(client.stream(HELLO)) == "保温杯"


def test_an_error_event_mid_stream_says_what_the_server_said(client: Client, llm_server) -> None:
    llm_server.script(Reply(body=sse(delta("保温"), {"error": {"message": "engine crashed"}})))
    with pytest.raises(LLMError, match="mid-stream: engine crashed"):
        list(client.stream(HELLO))
    assert len(llm_server.requests) == 1


def test_a_transient_error_before_the_first_streamed_piece_is_retried(client: Client, llm_server) -> None:
    overloaded = {"error": {"message": "overloaded", "type": "overloaded_error"}}
    llm_server.script(Reply(body=sse(overloaded)), Reply(status=429), "保温杯五折！")
    assert "".join(client.stream(HELLO)) == "保温杯五折！"
    assert len(llm_server.requests) == 3


def test_a_transient_error_after_streamed_pieces_is_not_retried(client: Client, llm_server) -> None:
    llm_server.script(Reply(body=sse(delta("保温"), {"error": {"message": "overloaded", "code": 503}})))
    shown = []
    with pytest.raises(LLMTransientError, match=r"mid-stream: overloaded \(taken as HTTP 503\)"):
        for piece in client.stream(HELLO):
            shown.append(piece)
    assert shown == ["保温"] and len(llm_server.requests) == 1


def test_a_permanent_error_event_is_not_retried(client: Client, llm_server) -> None:
    bad = {"error": {"message": "prompt is too long", "type": "invalid_request_error"}}
    llm_server.script(Reply(body=sse(bad)))
    with pytest.raises(LLMError, match="mid-stream: prompt is too long") as caught:
        list(client.stream(HELLO))
    assert not isinstance(caught.value, LLMTransientError) and len(llm_server.requests) == 1


# -- timing and the connection -------------------------------------------------------------------------


def test_a_long_retry_after_ends_the_call_at_once_and_says_why(client: Client, llm_server) -> None:
    llm_server.script(Reply(status=429, headers={"Retry-After": "3600"}))
    started = time.perf_counter()
    with pytest.raises(LLMTransientError, match="asks to wait 3600 s") as caught:
        client.complete(HELLO)
    assert time.perf_counter() - started < 2 and caught.value.status == 429
    assert len(llm_server.requests) == 1


def test_a_reply_cut_off_mid_body_is_retried(client: Client, llm_server) -> None:
    llm_server.script(Reply(text="前半句", body_cut=True), "完整的回答")
    assert client.complete(HELLO).text == "完整的回答"
    assert len(llm_server.requests) == 2


def test_a_server_trickling_bytes_still_times_out(tmp_path: Path, llm_server) -> None:
    # Each 8-byte piece arrives well within the timeout; the whole reply would take about 10 s.
    client = get_client(llm_server.settings(tmp_path, llm_timeout_s=0.5), retry=RetryPolicy(max_retries=0))
    llm_server.script(Reply(text="慢" * 40, trickle_s=0.05))
    started = time.perf_counter()
    with pytest.raises(LLMTransientError, match="MARKETPILOT_LLM_TIMEOUT_S"):
        client.complete(HELLO)
    assert time.perf_counter() - started < 2


# -- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/", "/chat/completions", "/chat/completions/"])
def test_base_url_with_trailing_slash_or_pasted_endpoint_works(tmp_path: Path, llm_server, suffix) -> None:
    client = get_client(llm_server.settings(tmp_path, llm_base_url=llm_server.url + suffix))
    assert client.complete(HELLO).text == "ok: 用一句话介绍保温杯"


def test_base_url_without_v1_names_the_setting(tmp_path: Path, llm_server) -> None:
    client = get_client(llm_server.settings(tmp_path, llm_base_url=llm_server.url.removesuffix("/v1")))
    with pytest.raises(LLMError, match=r"HTTP 404.*MARKETPILOT_LLM_BASE_URL \(it usually ends in /v1\)"):
        client.complete(HELLO)


def test_base_url_without_scheme_is_a_configuration_error(tmp_path: Path, llm_server) -> None:
    url = llm_server.url.removeprefix("http://")
    with pytest.raises(UserError, match="http:// or https://"):
        get_client(llm_server.settings(tmp_path, llm_base_url=url))
    assert llm_server.requests == []


def test_401_without_a_key_says_which_setting_to_set(client: Client, llm_server) -> None:
    llm_server.script(Reply(status=401, body='{"error": {"message": "Authentication Fails (no key)"}}'))
    with pytest.raises(LLMError, match=r"Authentication Fails.*none is set: set MARKETPILOT_LLM_API_KEY"):
        client.complete(HELLO)
    assert "authorization" not in llm_server.request_headers[0]


def test_401_with_a_key_says_the_key_was_refused(tmp_path: Path, llm_server) -> None:
    client = get_client(llm_server.settings(tmp_path, llm_api_key="sk-old"))
    llm_server.script(Reply(status=401))
    with pytest.raises(LLMError, match="refused the key in MARKETPILOT_LLM_API_KEY"):
        client.complete(HELLO)


def test_api_key_is_sent_without_stray_whitespace(tmp_path: Path, llm_server) -> None:
    client = get_client(llm_server.settings(tmp_path, llm_api_key="  sk-abc123\n"))
    client.complete(HELLO)
    assert llm_server.request_headers[0]["authorization"] == "Bearer sk-abc123"


def test_api_key_that_cannot_go_in_a_header_is_a_configuration_error(tmp_path: Path, llm_server) -> None:
    with pytest.raises(UserError, match="MARKETPILOT_LLM_API_KEY"):
        get_client(llm_server.settings(tmp_path, llm_api_key="sk-ａｂｃ"))  # full-width letters


def test_a_server_listing_no_model_says_to_set_one(tmp_path: Path, llm_server) -> None:
    llm_server.models = []  # Ollama before any `ollama pull`
    client = get_client(llm_server.settings(tmp_path, llm_model=None), retry=FAST_RETRY)
    with pytest.raises(LLMError, match="set MARKETPILOT_LLM_MODEL"):
        client.complete(HELLO)


def test_a_dead_primary_without_a_model_name_still_falls_back(tmp_path: Path) -> None:
    with OpenAITestServer(model="backup") as backup:
        dead = OpenAICompatProvider("http://127.0.0.1:9/v1", model=None, timeout_s=0.5)
        client = Client(dead, fallback=OpenAICompatProvider(backup.url, model="backup"), retry=FAST_RETRY)
        backup.script("备用模型的回答")
        completion = client.complete(HELLO, temperature=0)
    assert (completion.text, completion.model) == ("备用模型的回答", "backup")


# -- cache and ledger --------------------------------------------------------------------------------------


def test_a_cached_reply_that_new_validators_reject_is_asked_again(client: Client, llm_server) -> None:
    llm_server.script(json_reply({"title": "x", "score": 3}), json_reply({"title": "暖心杯", "score": 3}))
    client.complete(HELLO, schema=Slogan, temperature=0)
    stricter = _stricter_slogan()
    assert stricter.model_json_schema() == Slogan.model_json_schema()  # so the same cache key

    completion = client.complete(HELLO, schema=stricter, temperature=0)
    assert completion.parsed.title == "暖心杯" and not completion.cached
    assert client.complete(HELLO, schema=stricter, temperature=0).cached  # the new answer replaced it


def _stricter_slogan() -> type[BaseModel]:
    """`Slogan` as a later release might define it: the same fields, a validator added."""

    class Slogan(BaseModel):
        title: str
        score: int

        @field_validator("title")
        @classmethod
        def not_too_short(cls, value: str) -> str:
            if len(value) < 2:
                raise ValueError("too short")
            return value

    return Slogan


def test_clients_opening_a_new_home_at_once_all_work(tmp_path: Path, llm_server) -> None:
    # An API server's threads, each building a client on a fresh home: each would migrate llm.sqlite.
    for attempt in range(3):
        settings = llm_server.settings(tmp_path / f"home{attempt}")
        start, errors, clients = threading.Barrier(8), [], []

        def build(settings=settings, start=start, errors=errors, clients=clients) -> None:
            start.wait()
            try:
                clients.append(get_client(settings))
            except Exception as exc:  # collected: an exception in a thread would pass unnoticed
                errors.append(exc)

        threads = [threading.Thread(target=build) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        results = clients[0].complete_many(
            [LLMRequest(messages=[Message(role="user", content=f"#{i}")]) for i in range(16)]
        )
        for i, other in enumerate(clients[1:]):
            other.complete([Message(role="user", content=f"other {i}")])
        (row,) = clients[0].log.usage()
        assert row.calls == 16 + 7 and all(r.text == f"ok: #{i}" for i, r in enumerate(results))
        for built in clients:
            built.close()
