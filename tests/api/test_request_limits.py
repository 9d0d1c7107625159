"""Free text a client posts is bounded: a review text, a whole sentiment batch, a campaign goal and the
brief's words for copy are refused with a 422 naming the field (and the item) before any work is done;
at the limit, a request is read."""

from __future__ import annotations

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from marketpilot.api.app import create_app
from marketpilot.api.reviews import MAX_REQUEST_CHARS, MAX_TEXT_CHARS
from marketpilot.campaigns.planner import MAX_GOAL, plan_campaign
from marketpilot.config import get_settings
from marketpilot.content.briefs import MAX_PHRASE, MAX_SHOP_NAME, MAX_WORDS
from marketpilot.errors import UserError


@pytest.fixture
def client(tmp_path) -> TestClient:
    settings = get_settings(tmp_path / "home", api_keys=[HEADERS["X-API-Key"]])
    return TestClient(create_app(settings), raise_server_exceptions=False)


def problems(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text[:500]
    return response.json()["error"]["problems"]


def test_a_review_text_too_long_is_refused_by_its_index(client):
    texts = ["物流很快，质量很好", "Broke after two days.", "好" * (MAX_TEXT_CHARS + 1), "a" * 52_428_800]
    refused = client.post("/v1/reviews/sentiment", json={"texts": texts}, headers=HEADERS)
    assert problems(refused) == [
        "body.texts.2: String should have at most 10000 characters",
        "body.texts.3: String should have at most 10000 characters",
    ]
    longest = ["差评，" + "包装破损" * ((MAX_TEXT_CHARS - 3) // 4)]  # a long review is still read
    scored = client.post("/v1/reviews/sentiment", json={"texts": longest}, headers=HEADERS)
    assert scored.status_code == 200 and scored.json()["rows"] == 1


def test_a_sentiment_batch_is_bounded_in_characters_as_well_as_texts(client):
    batch = ["a" * MAX_TEXT_CHARS] * (MAX_REQUEST_CHARS // MAX_TEXT_CHARS + 1)
    (problem,) = problems(client.post("/v1/reviews/sentiment", json={"texts": batch}, headers=HEADERS))
    assert "texts hold 10,010,000 characters in all; a request takes at most 10,000,000" in problem
    assert "scale sentiment" in problem


def test_a_campaign_goal_is_bounded_in_the_api_and_the_library(client, tmp_path):
    goal = "春节前唤醒90天未购的高价值客户，" * (MAX_GOAL // 10)
    refused = client.post("/v1/campaigns/plan", json={"goal": goal}, headers=HEADERS)
    assert problems(refused) == ["body.goal: String should have at most 2000 characters"]
    # the CLI and the Python API call the library, which refuses it before any model call
    with pytest.raises(UserError, match=f"{len(goal):,} characters long; at most 2,000"):
        plan_campaign(get_settings(tmp_path / "lib"), goal)


@pytest.mark.parametrize("route", ["/v1/copy/brief", "/v1/copy/generate"])
def test_the_words_a_brief_passes_to_the_prompt_are_bounded(client, route):
    """Each is named; the CLI's flags (`copy generate --season …`) build the same `BriefExtras`."""
    extras = {
        "season": "双11" * MAX_PHRASE,
        "shop_name": "好物" * MAX_SHOP_NAME,
        "required_words": ["暖冬", "好" * (MAX_PHRASE + 1)],
        "forbidden_words": ["便宜货"] * (MAX_WORDS + 1),
        "offer": {"coupon_code": "D" * (MAX_PHRASE + 1)},
    }
    body = {"product_id": "P" * 101, "segment": "高价值" * 20, "extras": extras}
    assert problems(client.post(route, json=body, headers=HEADERS)) == [
        "body.product_id: String should have at most 100 characters",
        "body.segment: String should have at most 40 characters",
        "body.extras.offer.coupon_code: String should have at most 40 characters",
        "body.extras.season: String should have at most 40 characters",
        "body.extras.shop_name: String should have at most 20 characters",
        "body.extras.required_words.1: String should have at most 40 characters",
        "body.extras.forbidden_words: List should have at most 20 items after validation, not 21",
    ]
