"""`campaign plan` on goals that name several purchase categories: 且, 既…又, 都买过, "both … and",
"and also" ask that each was bought (`match: all`); 或, 、, "or" that any one was; a plain 和 / "and"
reads either way, is taken as any, and the plan says so. Audiences are checked against the shop's
purchase lines netted of their returns, in pandas."""

import pytest
from campaign_shop import build_shop, kept_buyers, write_purchases, write_returns
from typer.testing import CliRunner

from llm_server import json_reply
from marketpilot.campaigns.category_phrases import ground_categories
from marketpilot.campaigns.planner import plan_campaign
from marketpilot.campaigns.spec import CategoryPurchase
from marketpilot.cli import app
from marketpilot.errors import ValidationFailed

CATEGORIES = ["Lipstick", "Shoes", "Socks", "服饰", "美妆", "面霜"]
# What a model drafts for such goals: nothing about categories (the goal's words are the rule).
DRAFT = {"name": "品类回购", "goal": "cross_sell", "channels": ["sms"]}


def rule(windows: dict[str, int | None], match: str = "any") -> CategoryPurchase:
    """A purchase rule of these categories, each bought within its days (None: ever)."""
    days = set(windows.values())
    if len(days) == 1:
        return CategoryPurchase(categories=list(windows), within_days=days.pop(), match=match)
    return CategoryPurchase(
        categories=list(windows), windows={k: v for k, v in windows.items() if v}, match=match
    )


EACH = rule({"服饰": None, "美妆": None}, "all")
ANY = rule({"美妆": None, "服饰": None})
EN_EACH = rule({"Lipstick": None, "Shoes": None}, "all")
EN_ANY = rule({"Lipstick": None, "Shoes": None})
LIST = ["Lipstick", "Shoes", "Socks"]


@pytest.mark.parametrize(
    ("goal", "bought", "not_bought", "assumed"),
    [
        # review: "买过服饰且买过美妆的" planned for the buyers of either
        ("给买过服饰且买过美妆的客户发短信", EACH, None, []),
        ("买过服饰并且买过美妆的会员", EACH, None, []),
        ("买过服饰而且买过美妆的会员", EACH, None, []),
        # the first category was lost before 同时也 / 又 / 也
        ("买过服饰同时也买过美妆的客户", EACH, None, []),
        ("买过服饰，同时买过美妆的客户", EACH, None, []),
        ("既买过服饰又买过美妆的客户", EACH, None, []),
        ("买过服饰也买过美妆的客户", EACH, None, []),
        ("服饰和美妆都买过的客户", EACH, None, []),  # read no category before
        # a comma, then 也买过 about the same customers; a category at the goal's end was lost
        ("给买过美妆的，也买过服饰的客户", rule({"美妆": None, "服饰": None}, "all"), None, []),
        ("发短信给买过美妆也买过服饰", rule({"美妆": None, "服饰": None}, "all"), None, []),
        ("给最近30天内美妆和服饰都买过的客户", rule({"美妆": 30, "服饰": 30}, "all"), None, []),
        ("给服饰、美妆都没买过的客户发券", None, rule({"服饰": None, "美妆": None}), []),
        ("30天内买过美妆且60天内买过服饰的客户", rule({"美妆": 30, "服饰": 60}, "all"), None, []),
        ("买过美妆或服饰的客户", ANY, None, []),
        ("买过美妆或者服饰的客户", ANY, None, []),  # 者服饰 was no category
        ("买过美妆、服饰的客户", ANY, None, []),
        ("买过美妆和服饰的客户", ANY, None, ["bought"]),
        # each negated: neither (the rule's any); 没有同时买过: not both
        ("没买过美妆也没买过服饰的客户", None, ANY, []),  # 美妆 was lost
        ("美妆和服饰都没买过的客户", None, ANY, []),
        ("没买过美妆或服饰的客户", None, ANY, []),
        ("没有同时买过服饰和美妆的客户", None, EACH, []),  # was read as the buyers of either
        ("买过服饰且没买过美妆的客户", rule({"服饰": None}), rule({"美妆": None}), []),
        ("Text customers who bought both Lipstick and Shoes", EN_EACH, None, []),
        ("Text customers who bought Lipstick and also bought Shoes", EN_EACH, None, []),
        ("Text customers who bought Lipstick as well as Shoes", EN_EACH, None, []),
        (
            "customers who bought both Lipstick and Shoes in the last 30 days",
            rule({"Lipstick": 30, "Shoes": 30}, "all"),
            None,
            [],
        ),
        (
            "customers who bought Lipstick in the last 30 days and also Shoes in the last 60 days",
            rule({"Lipstick": 30, "Shoes": 60}, "all"),
            None,
            [],
        ),
        # review: 也 / 同时 / 还 / "also" before a second audience was read as both bought
        ("给买过美妆的客户，也给买过服饰的客户发短信", ANY, None, []),
        ("给买过美妆的客户发短信，同时给买过服饰的客户发邮件", ANY, None, []),
        ("给买过美妆的客户，还有买过服饰的客户", ANY, None, []),
        (
            "Send SMS to customers who bought Shoes, and also email customers who bought Socks",
            rule({"Shoes": None, "Socks": None}),
            None,
            [],
        ),
        # review: the bought category before "and didn't buy" was dropped
        ("customers who bought Shoes and didn't buy Socks", rule({"Shoes": None}), rule({"Socks": None}), []),
        (
            "customers who bought Shoes and haven't bought Socks",
            rule({"Shoes": None}),
            rule({"Socks": None}),
            [],
        ),
        ("Text customers who bought Lipstick or Shoes", EN_ANY, None, []),
        ("Text customers who bought either Lipstick or Shoes", EN_ANY, None, []),
        ("Text customers who bought Lipstick and Shoes", EN_ANY, None, ["bought"]),
        ("Text customers who bought Lipstick, and bought Shoes", EN_ANY, None, ["bought"]),
        (
            "customers who bought Lipstick in the last 30 days and Shoes in the last 60 days",
            rule({"Lipstick": 30, "Shoes": 60}),
            None,
            ["bought"],
        ),
        # a list goes on through commas (it ended at the first: Shoes and Socks were lost)
        ("Text customers who bought Lipstick, Shoes or Socks", rule(dict.fromkeys(LIST)), None, []),
        (
            "Text customers who bought Lipstick, Shoes, and Socks in the last 30 days",
            rule(dict.fromkeys(LIST, 30)),
            None,
            ["bought"],
        ),
        (
            "Text customers who bought both Lipstick, Shoes and Socks",
            rule(dict.fromkeys(LIST), "all"),
            None,
            [],
        ),
        ("Email customers who didn't buy Lipstick or Shoes", None, EN_ANY, []),
        ("Email customers who bought neither Lipstick nor Shoes", None, EN_ANY, []),
        ("Email customers who did not buy both Lipstick and Shoes", None, EN_EACH, []),
        ("Email customers who haven't bought Lipstick and Shoes", None, EN_ANY, ["not_bought"]),
    ],
)
def test_plan_reads_each_or_any_category_from_the_goals_words(goal, bought, not_bought, assumed) -> None:
    grounded = ground_categories(goal, CATEGORIES)
    assert (grounded.rule(False), grounded.rule(True)) == (bought, not_bought), grounded
    assert (grounded.assumed, grounded.mixed, grounded.unread) == (assumed, [], [])


def test_plan_refuses_a_goal_joining_its_categories_both_ways(llm_settings, llm_server) -> None:
    """One purchase rule asks for each of its categories or for any: (美妆 or 服饰) and 面霜 fits neither."""
    build_shop(llm_settings, n=300)
    write_purchases(llm_settings)
    assert ground_categories("买过美妆或服饰且买过面霜的", CATEGORIES).mixed == ["bought"]
    llm_server.script(json_reply(DRAFT))
    with pytest.raises(ValidationFailed, match="一条购买规则只能二选一"):
        plan_campaign(llm_settings, "给买过美妆或服饰且买过面霜的客户发短信")


@pytest.mark.parametrize(
    ("goal", "field", "windows", "match", "reading"),
    [
        ("给买过服饰且买过美妆的客户发短信", "bought", {"服饰": None, "美妆": None}, "all", None),
        ("给买过服饰或美妆的客户发短信", "bought", {"服饰": None, "美妆": None}, "any", None),
        ("给买过美妆的，也买过服饰的客户发短信", "bought", {"美妆": None, "服饰": None}, "all", None),
        (
            "给买过服饰和美妆的客户发短信",
            "bought",
            {"服饰": None, "美妆": None},
            "any",
            "audience.bought：目标里的“和”读作买过服饰、美妆中任一类目即可（match: any）；若要每个都买过",
        ),
        ("给30天内买过美妆且60天内买过服饰的客户发短信", "bought", {"美妆": 30, "服饰": 60}, "all", None),
        ("给没买过美妆也没买过服饰的客户发短信", "not_bought", {"美妆": None, "服饰": None}, "any", None),
        ("给没有同时买过美妆和服饰的客户发短信", "not_bought", {"美妆": None, "服饰": None}, "all", None),
        (
            "Text customers who bought both Lipstick and Shoes",
            "bought",
            {"Lipstick": None, "Shoes": None},
            "all",
            None,
        ),
        (
            "Text customers who bought Lipstick or Shoes",
            "bought",
            {"Lipstick": None, "Shoes": None},
            "any",
            None,
        ),
        (
            "Text customers who bought Lipstick and Shoes",
            "bought",
            {"Lipstick": None, "Shoes": None},
            "any",
            "audience.bought: 'and' in the goal read as bought any of Lipstick, Shoes (match: any); "
            "write 'both … and' or 'and also'",
        ),
        (
            "Text customers who bought Lipstick in the last 30 days and also Shoes in the last 60 days",
            "bought",
            {"Lipstick": 30, "Shoes": 60},
            "all",
            None,
        ),
        (
            "Text customers who bought neither Lipstick nor Shoes",
            "not_bought",
            {"Lipstick": None, "Shoes": None},
            "any",
            None,
        ),
    ],
)
def test_a_plan_reaches_the_buyers_of_each_category_or_of_any(
    llm_settings, llm_server, goal, field, windows, match, reading
) -> None:
    """Each customer bought two different products (some sent back whole): the customers who bought
    each category and those who bought any differ, and the plan counts the ones its reading selects."""
    shop = build_shop(llm_settings, n=300)
    sales = write_returns(llm_settings, write_purchases(llm_settings, orders=2))
    llm_server.script(json_reply(DRAFT))
    plan = plan_campaign(llm_settings, goal)
    assert getattr(plan.spec.audience, field) == rule(windows, match)
    per_category = [kept_buyers(sales, name, days) for name, days in windows.items()]
    each, either = set.intersection(*per_category), set.union(*per_category)
    assert 0 < len(each) < len(either) < len(shop)
    selected = each if match == "all" else either
    if field == "not_bought":
        selected = set(shop["customer_id"]) - selected
    assert plan.audience_size == len(selected)
    assert plan.spec.audience.recency_days is None
    if reading:
        assert len(plan.readings) == 1 and plan.readings[0].startswith(reading)
    else:
        assert plan.readings == []


def test_the_cli_says_how_it_read_a_plain_and(llm_settings, llm_server, monkeypatch) -> None:
    build_shop(llm_settings, n=300)
    write_returns(llm_settings, write_purchases(llm_settings, orders=2))
    for name in ("provider", "base_url", "model"):
        monkeypatch.setenv(f"MARKETPILOT_LLM_{name.upper()}", str(getattr(llm_settings, f"llm_{name}")))
    home = ["--home", str(llm_settings.home_dir)]
    llm_server.script(json_reply(DRAFT))
    printed = CliRunner().invoke(app, ["campaign", "plan", "给买过服饰和美妆的客户发短信", *home])
    assert printed.exit_code == 0, printed.output
    said = "".join(printed.stdout.split())
    assert "Readas:audience.bought：目标里的“和”读作买过服饰、美妆中任一类目即可（match:any）" in said
    assert "若要每个都买过，请写“且”“既…又…”或“都买过”" in said
