"""The REST API on a real sample shop: every route calls the library function its CLI command calls,
so each test compares the API's answer with that function's (or with the store), and checks keys,
errors and Chinese text on the way."""

from __future__ import annotations

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from llm_server import json_reply
from marketpilot.api import create_app
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.errors import UserError


@pytest.fixture(scope="module")
def client(shop: Settings) -> TestClient:
    return TestClient(create_app(shop))


def test_keys_guard_every_v1_route_but_not_health(client: TestClient):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["auth"] is True
    body = {"texts": ["很好"]}
    assert client.post("/v1/reviews/sentiment", json=body).status_code == 401
    assert client.post("/v1/reviews/sentiment", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/v1/reviews/sentiment", json=body, headers=HEADERS).status_code == 200
    schema = client.get("/openapi.json").json()
    assert "X-API-Key" in str(schema["components"]["securitySchemes"])
    for path in ("/v1/reviews/sentiment", "/v1/copy/generate", "/v1/campaigns/{campaign_id}/run"):
        assert path in schema["paths"]


def test_an_uptime_monitors_head_probe_of_health_is_answered(client: TestClient):
    probe = client.head("/health")  # no key, as monitors send none; was a 405, which reads as down
    assert probe.status_code == 200 and probe.content == b""
    assert set(client.get("/openapi.json").json()["paths"]["/health"]) == {"get"}


def test_no_keys_configured_is_refused_unless_auth_is_off(tmp_path):
    with pytest.raises(UserError, match="No API keys"):
        create_app(get_settings(tmp_path / "home"))
    open_client = TestClient(create_app(get_settings(tmp_path / "home"), require_key=False))
    assert open_client.post("/v1/reviews/sentiment", json={"texts": ["质量太差了，退货"]}).status_code == 200


def test_sentiment_matches_the_library_and_validates_input(client: TestClient):
    from marketpilot.analytics.reviews.sentiment import load_model

    texts = [
        "物流很快，质量很好，非常满意",
        "屏幕有坏点，客服也不理人，差评",
        "Great sound, works perfectly.",
        "Broke after two days, waste of money.",
    ]
    response = client.post("/v1/reviews/sentiment", json={"texts": texts}, headers=HEADERS)
    assert response.status_code == 200
    body = response.json()
    expected = load_model().predict(texts)
    assert [r["label"] for r in body["results"]] == ["pos", "neg", "pos", "neg"] == expected.label.tolist()
    assert [r["lang"] for r in body["results"]] == ["zh", "zh", "en", "en"]
    assert [r["probability"] for r in body["results"]] == pytest.approx(expected.probability.tolist())
    assert (body["rows"], body["pos"], body["neg"]) == (4, 2, 2)
    assert client.post("/v1/reviews/sentiment", json={"texts": []}, headers=HEADERS).status_code == 422
    too_many = {"texts": ["好"] * 501, "mode": "llm"}
    refused = client.post("/v1/reviews/sentiment", json=too_many, headers=HEADERS)
    assert refused.status_code == 422 and "at most 500" in refused.text
    bad_mode = client.post("/v1/reviews/sentiment", json={"texts": ["好"], "mode": "x"}, headers=HEADERS)
    assert bad_mode.status_code == 422 and "mode" in bad_mode.text


def top_reviewed_product(settings: Settings) -> str:
    with Store.open(settings, read_only=True) as store:
        return str(
            store.query(
                "SELECT product_id FROM reviews GROUP BY 1 ORDER BY count(*) DESC, product_id LIMIT 1"
            ).iloc[0, 0]
        )


def test_review_insight_without_the_llm(client: TestClient, shop: Settings):
    from marketpilot.analytics.reviews.insight import review_insight

    product = top_reviewed_product(shop)
    response = client.get("/v1/reviews/insight", params={"product": product, "llm": False}, headers=HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = review_insight(shop, product, use_llm=False)
    assert body["n_reviews"] == expected.n_reviews > 0
    assert body["positive"] == expected.positive
    assert [a["name"] for a in body["aspects"]] == [a.name for a in expected.aspects]
    both = client.get("/v1/reviews/insight", params={"product": product, "category": "x"}, headers=HEADERS)
    assert both.status_code == 400 and "not both" in both.json()["error"]["message"]


def test_recommendations_and_similar_products(client: TestClient, shop: Settings):
    from marketpilot.analytics.recommend.serving import recommendations_for

    with Store.open(shop, read_only=True) as store:
        customer = str(store.query("SELECT customer_id FROM orders ORDER BY customer_id LIMIT 1").iloc[0, 0])
    response = client.get(f"/v1/customers/{customer}/recommendations", params={"k": 5}, headers=HEADERS)
    assert response.status_code == 200, response.text
    rows = response.json()
    expected = recommendations_for(shop, customer, 5)
    assert [r["product_id"] for r in rows] == expected.product_id.tolist()
    assert all(r["reason_zh"] and r["reason_en"] and r["known_customer"] for r in rows)
    # an id the store does not know (a typo, a visitor not yet synced): the popular list, flagged
    typo = client.get(f"/v1/customers/{customer}x/recommendations", params={"k": 5}, headers=HEADERS)
    assert typo.status_code == 200 and [r["known_customer"] for r in typo.json()] == [False] * 5
    similar = client.get(f"/v1/products/{rows[0]['product_id']}/similar", params={"k": 3}, headers=HEADERS)
    assert similar.status_code == 200 and 0 < len(similar.json()) <= 3
    assert rows[0]["product_id"] not in [r["product_id"] for r in similar.json()]
    missing = client.get("/v1/products/NO-SUCH/similar", headers=HEADERS)
    assert missing.status_code == 404 and "NO-SUCH" in missing.json()["error"]["message"]
    assert client.get(f"/v1/customers/{customer}/recommendations?k=0", headers=HEADERS).status_code == 422
    # more than the fit kept is said, not silently cut to what there is
    more = client.get(f"/v1/customers/{customer}/recommendations?k=11", headers=HEADERS)
    assert more.status_code == 400 and "top 10" in more.json()["error"]["message"]
    assert "recommend fit --k 11" in more.json()["error"]["hint"]


def test_copy_brief_check_and_generate(client: TestClient, shop: Settings, llm_server):
    from marketpilot.content.service import product_facts

    product = top_reviewed_product(shop)
    facts = product_facts(shop, product)
    extras = {"promo_price": 9.9, "shop_name": "暖冬小铺"}
    request = {"product_id": product, "channel": "sms", "extras": extras}
    brief = client.post("/v1/copy/brief", json=request, headers=HEADERS)
    assert brief.status_code == 200, brief.text
    assert brief.json()["product"]["name"] == facts.name
    assert brief.json()["product"]["promo_price"] == 9.9

    wrong_price = f"{facts.name}今天只要1元，全网最低价！"
    check = client.post("/v1/copy/check", json={"text": wrong_price, "brief": brief.json()}, headers=HEADERS)
    assert check.status_code == 200
    rules = {v["rule"] for v in check.json()["violations"]}
    assert check.json()["ok"] is False and {"facts", "ad_law"} <= rules, rules

    app = create_app(llm_server.settings(shop.home, api_keys=[HEADERS["X-API-Key"]], llm_cache=False))
    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": f"{facts.name}，到手价9.9元"}]}))
    generated = TestClient(app).post("/v1/copy/generate", json=request | {"n": 1}, headers=HEADERS)
    assert generated.status_code == 200, generated.text
    assert generated.json()["variants"][0]["text"] == f"{facts.name}，到手价9.9元"
    assert facts.name in llm_server.requests[0]["messages"][-1]["content"]

    missing = client.post("/v1/copy/brief", json=request | {"product_id": "NO-SUCH"}, headers=HEADERS)
    assert missing.status_code == 404 and missing.json()["error"]["hint"]


def test_generation_failure_is_a_502(shop: Settings, llm_server):
    from llm_server import Reply

    app = create_app(
        llm_server.settings(shop.home, api_keys=[HEADERS["X-API-Key"]], llm_cache=False, llm_max_retries=0)
    )
    llm_server.script(Reply(status=500, text="boom"))
    product = top_reviewed_product(shop)
    body = {"product_id": product, "n": 1}
    response = TestClient(app).post("/v1/copy/generate", json=body, headers=HEADERS)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "ProviderError"


def test_segments(client: TestClient, shop: Settings):
    response = client.get("/v1/segments", headers=HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["customers"] > 0 and len(body["segments"]) == body["k"]
    # files named relative to the home: the server's disk layout is none of a client's business
    assert body["assignments_parquet"] == "intel/segments.parquet"
    assert str(shop.home_dir.resolve()) not in response.text


def test_a_brief_takes_the_segment_number_as_v1_segments_gives_it(client: TestClient, shop: Settings):
    segment = client.get("/v1/segments", headers=HEADERS).json()["segments"][0]["stats"]["segment"]
    assert isinstance(segment, int)  # a JSON number, as an integrator copies it into the next request
    request = {"product_id": top_reviewed_product(shop), "segment": segment, "channel": "sms"}
    brief = client.post("/v1/copy/brief", json=request, headers=HEADERS)
    assert brief.status_code == 200, brief.text  # was 422: "body.segment: Input should be a valid string"
    as_text = client.post("/v1/copy/brief", json=request | {"segment": str(segment)}, headers=HEADERS)
    assert brief.json()["audience"] == as_text.json()["audience"] and brief.json()["audience"]["persona"]


def test_campaign_create_approve_run_status_report(client: TestClient):
    spec = {
        "name": "接口测试",
        "goal": "reactivation",
        "audience": {},
        "offer": {"description": "全场8折", "discount": 0.2},
        "schedule": {"quiet_start": "00:00", "quiet_end": "00:00"},
        "channels": [{"name": "export", "variants": [{"key": "A", "text": "{name}，全场8折"}]}],
    }
    bad = client.post("/v1/campaigns", json=spec | {"goal": "nonsense"}, headers=HEADERS)
    assert bad.status_code == 422
    created = client.post("/v1/campaigns", json=spec, headers=HEADERS)
    assert created.status_code == 201, created.text
    cid, audience = created.json()["campaign_id"], created.json()["audience_size"]
    assert audience > 0
    assert cid in [c["id"] for c in client.get("/v1/campaigns", headers=HEADERS).json()]
    assert client.get(f"/v1/campaigns/{cid}", headers=HEADERS).json()["spec"]["name"] == "接口测试"

    unapproved = client.post(f"/v1/campaigns/{cid}/run", headers=HEADERS)
    assert unapproved.status_code == 400, unapproved.text
    blank = client.post(f"/v1/campaigns/{cid}/approve", json={"by": "   "}, headers=HEADERS)
    assert blank.status_code == 422 and "name who approves" in blank.text
    approved = client.post(f"/v1/campaigns/{cid}/approve", json={"by": "运营"}, headers=HEADERS)
    assert approved.json() == {"campaign_id": cid, "version": 1, "approved_by": "运营"}
    run = client.post(f"/v1/campaigns/{cid}/run", headers=HEADERS)
    assert run.status_code == 200, run.text
    result = run.json()
    assert result["sent"] == result["plan"]["queued"] > 0 and result["pending"] == 0
    again = client.post(f"/v1/campaigns/{cid}/run", headers=HEADERS).json()
    assert again["sent"] == 0 and again["planned"] is False  # idempotent: nothing is sent twice
    counts = client.get(f"/v1/campaigns/{cid}/status", headers=HEADERS).json()
    assert sum(c["messages"] for c in counts if c["status"] == "sent") == result["sent"]
    report = client.get(f"/v1/campaigns/{cid}/report", params={"llm": False}, headers=HEADERS)
    assert report.status_code == 200, report.text
    assert report.json()["path"].startswith("reports/") and report.json()["path"].endswith(".html")
    assert report.json()["narrative"]

    assert client.get("/v1/campaigns/NO-SUCH/status", headers=HEADERS).status_code == 404
    missing = client.get(f"/v1/campaigns/{cid}/report", params={"version": 99}, headers=HEADERS)
    assert missing.status_code == 404


def test_concurrent_runs_of_one_campaign_send_each_message_once(client: TestClient):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    spec = {
        "name": "并发运行",
        "goal": "reactivation",
        "audience": {},
        "offer": {"description": "全场8折", "discount": 0.2},
        "schedule": {"quiet_start": "00:00", "quiet_end": "00:00"},
        "channels": [{"name": "export", "variants": [{"key": "A", "text": "{name}，全场8折"}]}],
    }
    cid = client.post("/v1/campaigns", json=spec, headers=HEADERS).json()["campaign_id"]
    client.post(f"/v1/campaigns/{cid}/approve", json={"by": "运营"}, headers=HEADERS)
    start = Barrier(4)  # a client retrying a run that outlived its timeout, times four

    def run(_: int):  # type: ignore[no-untyped-def]
        start.wait()
        return client.post(f"/v1/campaigns/{cid}/run", headers=HEADERS)

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(run, range(4)))  # was a 500 (IntegrityError) for every run but one
    assert {r.status_code for r in runs} <= {200, 409} and 200 in {r.status_code for r in runs}
    for busy in (r for r in runs if r.status_code == 409):
        assert busy.json()["error"]["type"] == "ConflictError" and cid in busy.json()["error"]["message"]
    sent = sum(r.json()["sent"] for r in runs if r.status_code == 200)
    counts = client.get(f"/v1/campaigns/{cid}/status", headers=HEADERS).json()
    assert sent == sum(c["messages"] for c in counts if c["status"] == "sent") > 0
    again = client.post(f"/v1/campaigns/{cid}/run", headers=HEADERS)  # the lock went with the runs
    assert again.status_code == 200 and again.json()["sent"] == 0


def test_plan_a_campaign_from_a_goal_and_store_it(shop: Settings, llm_server):
    app = create_app(llm_server.settings(shop.home, api_keys=[HEADERS["X-API-Key"]], llm_cache=False))
    draft = {
        "name": "春节唤醒",
        "goal": "reactivation",
        "segments": [],
        "channels": ["sms"],
        "max_messages": 50,
    }
    llm_server.script(json_reply(draft))
    client = TestClient(app)
    goal = "春节前唤醒老客，全场8折，预算50条短信"
    response = client.post("/v1/campaigns/plan", json={"goal": goal, "create": True}, headers=HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan"]["spec"]["offer"]["discount"] == pytest.approx(0.2)  # the goal's own figure
    assert body["plan"]["audience_size"] > 0
    stored = client.get(f"/v1/campaigns/{body['campaign_id']}", headers=HEADERS).json()
    assert stored["spec"]["name"] == "春节唤醒" and stored["version"] == 1
    assert goal in llm_server.requests[0]["messages"][-1]["content"]


def test_assistant_answers_or_hands_off(shop: Settings, llm_server):
    app = create_app(llm_server.settings(shop.home, api_keys=[HEADERS["X-API-Key"]], llm_cache=False))
    client = TestClient(app)
    draft = {"can_answer": True, "answer": "可开电子普通发票。", "citations": ["policy:8"]}
    llm_server.script(json_reply(draft))
    answered = client.post("/v1/assistant/ask", json={"question": "发票怎么开？"}, headers=HEADERS)
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == "可开电子普通发票。" and answered.json()["handoff"] is False
    handed = client.post("/v1/assistant/ask", json={"question": "转人工"}, headers=HEADERS).json()
    assert handed["handoff"] is True and handed["answer"] is None
    assert client.post("/v1/assistant/ask", json={"question": ""}, headers=HEADERS).status_code == 422
    invisible = client.post("/v1/assistant/ask", json={"question": "\u200b"}, headers=HEADERS)
    assert invisible.status_code == 400 and "empty" in invisible.text  # never reaches the model
    # A follow-up carries its conversation.
    llm_server.script(json_reply(draft | {"answer": "确认收货后 3 个工作日内发送。"}))
    history = [{"question": "发票怎么开？", "answer": "可开电子普通发票。"}]
    follow = client.post(
        "/v1/assistant/ask", json={"question": "要多久？", "history": history}, headers=HEADERS
    )
    assert follow.status_code == 200 and follow.json()["retrieved"][0]["id"] == "policy:8"
    assert "<data>可开电子普通发票。</data>" in llm_server.requests[-1]["messages"][-1]["content"]


def test_assistant_requests_as_clients_really_send_them(shop: Settings, llm_server):
    app = create_app(llm_server.settings(shop.home, api_keys=[HEADERS["X-API-Key"]], llm_cache=False))
    client = TestClient(app)
    # A client without a signed-in customer sends "": nobody is signed in, not a customer called "".
    order = {"question": "订单 O0000000001 到哪了？", "customer_id": ""}
    anonymous = client.post("/v1/assistant/ask", json=order, headers=HEADERS).json()
    assert anonymous["handoff"] and anonymous["handoff_reason"] == "查询订单需要先登录"
    # A history turn in another shape (OpenAI's role/content) is refused, not silently dropped.
    turn = {"question": "发票怎么开？", "answer": None, "role": "user"}
    body = {"question": "要多久？", "history": [turn]}
    refused = client.post("/v1/assistant/ask", json=body, headers=HEADERS)
    assert refused.status_code == 422 and refused.json()["error"]["problems"][0].startswith(
        "body.history.0.role:"
    )
    # A product id is no order number: asked with nobody signed in, it is answered.
    llm_server.script(json_reply({"can_answer": True, "answer": "有货。", "citations": ["product:P000001"]}))
    product = client.post("/v1/assistant/ask", json={"question": "P000001 有货吗？"}, headers=HEADERS).json()
    assert not product["handoff"] and product["citations"][0]["id"] == "product:P000001"
    assert llm_server.requests and not llm_server.pending


def test_text_that_was_not_utf8_is_refused_not_a_500(client: TestClient):
    """A lone surrogate (bytes of a GBK terminal, escaped as \\ud800 in JSON): where a route's model
    refuses it, echoing it back in the 422 failed; where a model let it through, scoring it did; both
    answered 500. The length limits of the sentiment texts and the product id refuse it in the model,
    naming the field."""
    headers = {**HEADERS, "content-type": "application/json"}
    asked = client.post("/v1/assistant/ask", content='{"question": "\\ud800"}', headers=headers)
    assert asked.status_code == 422 and asked.json()["error"]["problems"][0].startswith("body.question:")
    scored = client.post("/v1/reviews/sentiment", content='{"texts": ["好", "\\ud800好"]}', headers=headers)
    assert scored.status_code == 422 and scored.json()["error"]["problems"][0].startswith("body.texts.1:")
    looked_up = client.post("/v1/copy/brief", content='{"product_id": "\\ud800"}', headers=headers)
    assert looked_up.status_code == 422
    assert looked_up.json()["error"]["problems"][0].startswith("body.product_id:")
