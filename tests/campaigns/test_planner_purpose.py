"""`campaign plan` on goals that ask customers to buy a category (提醒他们购买美妆, 鼓励购买美妆, 促进美妆
购买, "remind them to buy Shoes"): the category is what the campaign promotes, not who it reaches, so
no `bought` rule is read from it (it was: the plan reached only the past buyers of what it promotes),
and the plan's `readings` say so; "买过美妆的", "最近购买美妆的客户" still describe the customers."""

import pytest
from campaign_shop import build_shop, kept_buyers, write_purchases, write_returns

from llm_server import json_reply
from marketpilot.campaigns.category_phrases import ground_categories
from marketpilot.campaigns.planner import plan_campaign
from marketpilot.campaigns.spec import CategoryPurchase

CATEGORIES = ["Lipstick", "Shoes", "Socks", "服饰", "美妆", "面霜"]
# What a model drafts for such goals: nothing about categories (the goal's words are the rule).
DRAFT = {"name": "老客促购", "goal": "reactivation", "channels": ["sms"]}


def rule(*names: str) -> CategoryPurchase:
    return CategoryPurchase(categories=list(names))


@pytest.mark.parametrize(
    ("goal", "bought", "not_bought", "promoted"),
    [
        # review: each read as the past buyers of the category the message promotes
        ("给30天没下单的客户发短信，提醒他们购买美妆", None, None, ["美妆"]),
        ("给30天没下单的客户发短信，鼓励购买美妆", None, None, ["美妆"]),
        ("给30天没下单的客户发短信，引导购买服饰", None, None, ["服饰"]),
        ("给30天没下单的客户发短信，邀请他们回店下单美妆", None, None, ["美妆"]),
        ("给30天没下单的客户发短信，吸引他们再次购买美妆类产品", None, None, ["美妆"]),
        ("提醒他们购买美妆且购买服饰", None, None, ["美妆", "服饰"]),
        ("鼓励30天没下单的客户购买美妆", None, None, ["美妆"]),
        ("给买过服饰的客户发短信，提醒他们购买美妆", rule("服饰"), None, ["美妆"]),
        ("鼓励买过美妆的客户购买服饰", rule("美妆"), None, ["服饰"]),
        ("鼓励没买过美妆的客户购买面霜", None, rule("美妆"), ["面霜"]),
        # English: the category before "to buy" was lost ("Lipstick to buy Shoes" was no category)
        ("Remind customers who didn't buy Lipstick to buy Shoes", None, rule("Lipstick"), ["Shoes"]),
        (
            "Email customers who haven't bought Socks to encourage them to buy Shoes",
            None,
            rule("Socks"),
            ["Shoes"],
        ),
    ],
)
def test_a_purchase_the_goal_asks_for_is_no_bought_rule(goal, bought, not_bought, promoted) -> None:
    grounded = ground_categories(goal, CATEGORIES)
    assert (grounded.rule(False), grounded.rule(True)) == (bought, not_bought), grounded
    assert [c for _, found in grounded.promoted for c in found] == promoted
    assert (grounded.unread, grounded.unknown) == ([], [])


@pytest.mark.parametrize(
    ("goal", "promoted"),
    [
        # these read no rule before either, and said nothing of the category the goal names
        ("给30天没下单的客户发短信，促进美妆购买", "促进美妆购买"),
        ("给30天没下单的客户发短信，推荐他们买美妆", "推荐他们买美妆"),
        ("给30天没下单的客户发短信，号召大家来买美妆", "号召大家来买美妆"),
        ("提升美妆和服饰的复购", "提升美妆和服饰的复购"),
        (
            "Text customers who haven't ordered in 30 days to remind them to buy Shoes",
            "remind them to buy Shoes",
        ),
        ("Text lapsed customers and encourage customers to buy Shoes", "encourage customers to buy Shoes"),
        ("Email lapsed customers to get them into buying Shoes", "get them into buying Shoes"),
    ],
)
def test_the_goals_words_for_a_promoted_category_are_kept(goal, promoted) -> None:
    grounded = ground_categories(goal, CATEGORIES)
    assert (grounded.rule(False), grounded.rule(True)) == (None, None)
    assert [words for words, _ in grounded.promoted] == [promoted]


@pytest.mark.parametrize(
    ("goal", "bought"),
    [
        # guards: a purchase with 过, or in a clause about customers, describes them (these read so before)
        ("给买过美妆的客户发短信", rule("美妆")),
        ("给购买过美妆的客户发短信", rule("美妆")),
        ("给最近购买美妆的客户发短信", rule("美妆")),
        ("提醒最近购买美妆的客户复购", rule("美妆")),
        ("提醒买过美妆的客户回购", rule("美妆")),
        ("请给最近购买美妆的客户发短信", rule("美妆")),
        # 请 is how goals are written politely, no verb that asks for the purchase
        (
            "请给30天内购买美妆，60天内没购买服饰的客户发短信",
            CategoryPurchase(categories=["美妆"], within_days=30),
        ),
        # 鼓励 asks, but 最近购买美妆且购买服饰的客户 says whom: both bought
        ("鼓励最近购买美妆且购买服饰的客户复购", CategoryPurchase(categories=["美妆", "服饰"], match="all")),
        ("Remind customers who bought Shoes to come back", rule("Shoes")),
    ],
)
def test_a_purchase_describing_the_customers_stays_a_bought_rule(goal, bought) -> None:
    assert ground_categories(goal, CATEGORIES).rule(False) == bought


@pytest.mark.parametrize(
    ("goal", "plain", "reading"),
    [
        (
            "给30天没下单的客户发短信，提醒他们购买美妆",
            "给30天没下单的客户发短信",
            "audience.bought：目标里的“提醒他们购买美妆”读作活动要推广的类目，不是受众条件：方案没有只选买过美妆",
        ),
        (
            "给30天没下单的客户发短信，促进美妆购买",
            "给30天没下单的客户发短信",
            "audience.bought：目标里的“促进美妆购买”读作活动要推广的类目",
        ),
        (
            "Text customers who haven't ordered in 30 days to remind them to buy Shoes",
            "Text customers who haven't ordered in 30 days",
            "audience.bought: 'remind them to buy Shoes' in the goal was read as what the campaign promotes, "
            "not as who it reaches: the plan does not select the customers who bought Shoes",
        ),
    ],
)
def test_a_plan_reaches_the_lapsed_customers_not_the_buyers_of_what_it_promotes(
    llm_settings, llm_server, goal, plain, reading
) -> None:
    """The plan for the goal reaches the customers the goal without its promotion reaches (before,
    only those of them who had bought the promoted category), and says how it read the words."""
    build_shop(llm_settings, n=300)
    write_returns(llm_settings, write_purchases(llm_settings))
    llm_server.script(json_reply(DRAFT), json_reply(DRAFT))
    plan, without = plan_campaign(llm_settings, goal), plan_campaign(llm_settings, plain)
    assert plan.spec.audience.bought is None and plan.spec.audience.recency_days is not None
    assert plan.spec.audience == without.spec.audience
    assert 0 < plan.audience_size == without.audience_size
    assert len(plan.readings) == 1 and plan.readings[0].startswith(reading), plan.readings
    assert without.readings == []


def test_a_plan_keeps_the_buyers_the_goal_names_and_promotes_another_category(
    llm_settings, llm_server
) -> None:
    """ "给最近购买美妆的客户发短信，鼓励购买服饰": the buyers of 美妆 (kept sales only), 服饰 promoted."""
    shop = build_shop(llm_settings, n=300)
    sales = write_returns(llm_settings, write_purchases(llm_settings))
    llm_server.script(json_reply(DRAFT))
    plan = plan_campaign(llm_settings, "给最近购买美妆的客户发短信，鼓励购买服饰")
    assert plan.spec.audience.bought == rule("美妆")
    assert 0 < plan.audience_size == len(kept_buyers(sales, "美妆", None)) < len(shop)
    assert len(plan.readings) == 1 and plan.readings[0].startswith("audience.bought：目标里的“鼓励购买服饰”")


def test_a_plan_says_nothing_when_its_rules_name_the_promoted_category(llm_settings, llm_server) -> None:
    """ "鼓励没买过美妆的客户购买美妆": the rule already says what the plan does with 美妆."""
    shop = build_shop(llm_settings, n=300)
    sales = write_returns(llm_settings, write_purchases(llm_settings))
    llm_server.script(json_reply(DRAFT))
    plan = plan_campaign(llm_settings, "鼓励没买过美妆的客户购买美妆")
    assert plan.spec.audience.not_bought == rule("美妆") and plan.spec.audience.bought is None
    assert plan.audience_size == len(set(shop["customer_id"]) - kept_buyers(sales, "美妆", None))
    assert plan.readings == []


@pytest.mark.parametrize(
    ("goal", "bought", "unread"),
    [
        # review: a bare 购买 ending the goal asks for the purchase with no asking verb the reading knows;
        # read as bought (once a category could end the goal), they reached only past buyers
        ("给90天没下单的老客户发短信，欢迎回来购买美妆", None, []),
        ("给老客户发短信，快来购买美妆", None, []),
        ("给老客户发短信，希望他们购买美妆", None, []),
        ("给会员发短信：双11购买美妆。", None, []),
        ("给会员发短信，下单即送小样", None, []),  # 即送小样 was an unread "category"
        # a purchase made, dated or marked done, is read as before
        ("没在我们店买过美妆的客户", None, []),
        ("发短信给买过美妆也买过服饰", CategoryPurchase(categories=["美妆", "服饰"], match="all"), []),
        # review: a window between the asking verb and the purchase dates a purchase the customers made
        ("提醒最近30天购买美妆，还没有复购的客户", CategoryPurchase(categories=["美妆"], within_days=30), []),
        (
            "邀请最近30天购买美妆，60天内没复购的客户回店",
            CategoryPurchase(categories=["美妆"], within_days=30),
            [],
        ),
    ],
)
def test_a_category_ending_the_goal_after_a_bare_purchase_verb_is_no_bought_rule(
    goal, bought, unread
) -> None:
    grounded = ground_categories(goal, CATEGORIES)
    assert grounded.rule(False) == bought, grounded
    assert grounded.unread == unread
