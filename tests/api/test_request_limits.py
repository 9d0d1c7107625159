"""Free text a client posts is bounded: a review text, a whole sentiment batch, a campaign goal (refused
in its own language), the brief's words for copy, every text of a brief posted for a check and of a
campaign spec are refused with a 422 naming the field (and the item) before any work is done; at the
limit, a request is read."""

from __future__ import annotations

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from marketpilot.api.app import create_app
from marketpilot.api.content import MAX_FACTS
from marketpilot.api.reviews import MAX_REQUEST_CHARS, MAX_TEXT_CHARS
from marketpilot.campaigns.planner import MAX_GOAL, plan_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.config import get_settings
from marketpilot.content.briefs import MAX_PHRASE, MAX_SHOP_NAME, MAX_WORDS
from marketpilot.errors import UserError, ValidationFailed


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


def test_a_campaign_goal_is_bounded_in_the_api_and_the_library_in_its_language(client, tmp_path):
    goal = "春节前唤醒90天未购的高价值客户，" * (MAX_GOAL // 10)
    refused = client.post("/v1/campaigns/plan", json={"goal": goal}, headers=HEADERS)
    assert problems(refused) == [
        "body.goal: 活动目标有 3,400 个字符，最多读取 2,000 个。"
        "用一两句话写明目标：发给谁、什么优惠、哪个渠道、多少预算"
    ]
    english = "Win back high-value customers silent for 90 days before Black Friday. " * 30
    refused = client.post("/v1/campaigns/plan", json={"goal": english}, headers=HEADERS)
    assert problems(refused) == ["body.goal: String should have at most 2000 characters"]
    # the CLI and the Python API call the library, which refuses it before any model call
    with pytest.raises(UserError, match="活动目标有 3,400 个字符，最多读取 2,000 个") as zh:
        plan_campaign(get_settings(tmp_path / "lib"), goal)
    assert zh.value.hint == "用一两句话写明目标：发给谁、什么优惠、哪个渠道、多少预算"
    with pytest.raises(UserError, match=f"{len(english):,} characters long; at most 2,000") as en:
        plan_campaign(get_settings(tmp_path / "lib"), english)
    assert en.value.hint.startswith("state the goal in a sentence or two")


# A brief as `copy brief` writes it for a sample shop's product, posted back for a check.
BRIEF = {
    "product": {
        "product_id": "P0001",
        "name": "羊毛混纺圆领毛衣",
        "category": "服饰",
        "attributes": {"面料": "羊毛70%", "颜色": "燕麦色"},
        "price": 399.0,
        "selling_points": ["质量", "保暖"],
    },
    "audience": {"segment": "1", "persona": "高价值老客：近30天买过，客单价高，偏爱服饰。"},
    "channel": "sms",
    "brand": {"shop_name": "暖冬小铺", "required_words": ["暖冬"], "tone": "亲切"},
    "season": "双11",
}


def test_every_text_of_a_brief_posted_for_a_check_is_bounded(client):
    ok = client.post("/v1/copy/check", json={"text": "暖冬小铺：毛衣399元", "brief": BRIEF}, headers=HEADERS)
    assert ok.status_code == 200, ok.text[:300]
    pasted = "羊毛" * 5_000  # a pasted page: 10,000 characters (far more is over the body limit, a 413)
    brief = {
        "product": BRIEF["product"]
        | {
            "name": pasted,
            "category": pasted,
            "attributes": {"面料": pasted},
            "selling_points": [pasted],
        },
        "audience": {"segment": pasted, "persona": pasted},
        "goal": pasted,
        "tone": pasted,
        "brand": {
            "shop_name": pasted,
            "required_words": [pasted],
            "forbidden_words": ["差"] * 21,
            "tone": pasted,
        },
        "season": pasted,
    }
    assert problems(
        client.post("/v1/copy/check", json={"text": "毛衣", "brief": brief}, headers=HEADERS)
    ) == [
        "body.brief.product.name: String should have at most 500 characters",
        "body.brief.product.category: String should have at most 500 characters",
        "body.brief.product.attributes.面料: String should have at most 500 characters",
        "body.brief.product.selling_points.0: String should have at most 500 characters",
        "body.brief.audience.segment: String should have at most 40 characters",
        "body.brief.audience.persona: String should have at most 600 characters",
        "body.brief.goal: String should have at most 40 characters",
        "body.brief.tone: String should have at most 500 characters",
        "body.brief.brand.shop_name: String should have at most 20 characters",
        "body.brief.brand.required_words.0: String should have at most 40 characters",
        "body.brief.brand.forbidden_words: List should have at most 20 items after validation, not 21",
        "body.brief.brand.tone: String should have at most 500 characters",
        "body.brief.season: String should have at most 40 characters",
    ]
    product = BRIEF["product"] | {"attributes": {f"属性{i}": "有" for i in range(MAX_FACTS + 1)}}
    refused = client.post(
        "/v1/copy/check", json={"text": "毛衣", "brief": {"product": product}}, headers=HEADERS
    )
    assert problems(refused) == [
        "body.brief.product.attributes: Dictionary should have at most 100 items after validation, not more"
    ]


SPEC = {
    "name": "双11老客唤醒",
    "goal": "festival_promotion",
    "offer": {"description": "全场8折，满300减50", "coupon_code": "DOUBLE11"},
    "audience": {"bought": {"categories": ["服饰"]}, "include": ["C00001"]},
    "channels": [
        {"name": "sms", "variants": [{"key": "A", "text": "{name}，双11全场8折", "angle": "seasonal"}]}
    ],
}


def test_a_marketplace_category_path_over_100_characters_is_a_category_a_spec_may_name() -> None:
    from marketpilot.campaigns.spec import CampaignSpec

    path = (
        "Home & Kitchen > Kitchen & Dining > Coffee, Tea & Espresso > Coffee Makers > "
        "Pour-Over Coffee Makers & Drippers"
    )
    assert len(path) > 100
    spec = CampaignSpec.model_validate(
        SPEC | {"audience": {"bought": {"categories": [path], "windows": {path: 30}}}}
    )
    assert spec.audience.bought is not None and spec.audience.bought.categories == [path]


def test_every_text_of_a_campaign_spec_is_bounded_in_the_api_and_the_cli(client):
    pasted = "全场8折" * 2_501  # 10,004 characters
    spec = SPEC | {
        "offer": {"description": pasted, "coupon_code": pasted, "product_ids": [pasted]},
        "audience": {
            "segments": [pasted],
            "rfm_classes": [pasted],
            "bought": {"categories": [pasted]},
            "viewed": {"categories": [pasted]},
            "include": ["C00001", pasted],
            "exclude": [pasted],
        },
        "channels": [
            {"name": "sms", "variants": [{"key": "A", "text": pasted, "subject": pasted, "angle": pasted}]}
        ],
        "schedule": {"timezone": pasted},
        "channel_overrides": {pasted: "sms"},
    }
    expected = [
        "audience.segments.0: String should have at most 100 characters",
        "audience.rfm_classes.0: String should have at most 100 characters",
        "audience.bought.categories.0: String should have at most 500 characters",
        "audience.viewed.categories.0: String should have at most 500 characters",
        "audience.include.1: String should have at most 100 characters",
        "audience.exclude.0: String should have at most 100 characters",
        "offer.description: String should have at most 2000 characters",
        "offer.product_ids.0: String should have at most 100 characters",
        "offer.coupon_code: String should have at most 40 characters",
        "channels.0.variants.0.text: String should have at most 10000 characters",
        "channels.0.variants.0.subject: String should have at most 10000 characters",
        "channels.0.variants.0.angle: String should have at most 40 characters",
        "schedule.timezone: String should have at most 100 characters",
        f"channel_overrides.{pasted}.[key]: String should have at most 100 characters",
    ]
    refused = problems(client.post("/v1/campaigns", json=spec, headers=HEADERS))
    assert refused == [f"body.{p}" for p in expected]
    # `campaign create --spec FILE` parses the same model
    with pytest.raises(ValidationFailed) as cli:
        parse_spec(spec)
    assert cli.value.problems == expected
    assert parse_spec(SPEC).offer.coupon_code == "DOUBLE11"


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
