import datetime as dt

import pytest
from campaign_shop import export_spec

from marketpilot.campaigns.spec import Schedule, parse_spec
from marketpilot.errors import ValidationFailed

SH = dt.timezone(dt.timedelta(hours=8))


def test_yaml_round_trip_keeps_chinese_and_defaults() -> None:
    spec = parse_spec(export_spec())
    again = parse_spec(spec.to_yaml())
    assert again == spec
    assert "春节唤醒" in spec.to_yaml()
    assert spec.holdout_share == 0.10 and spec.schedule.timezone == "Asia/Shanghai"
    assert (spec.schedule.quiet_start, spec.schedule.quiet_end) == (dt.time(22), dt.time(8))


def test_schema_errors_name_the_field() -> None:
    bad = export_spec(goal="world_domination", holdout_share=1.5)
    with pytest.raises(ValidationFailed) as err:
        parse_spec(bad)
    text = str(err.value)
    assert "goal" in text and "holdout_share" in text


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ({"recency_days": {"min": -30}}, "-30.0 days is negative"),
        ({"churn": {"min": 60}}, "60.0 is outside 0–1"),
        ({"clv": {"min": 500, "max": 100}}, "min 500.0 is above max 100.0"),
    ],
)
def test_audience_bands_that_select_nobody_by_mistake_are_refused(audience: dict, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_spec(export_spec(audience=audience))
    assert parse_spec(export_spec(audience={"recency_days": {"min": 0, "max": 90}})).audience.recency_days


def test_holdout_is_a_reserved_variant_key() -> None:
    spec = export_spec()
    spec["channels"][0]["variants"][0]["key"] = "holdout"
    with pytest.raises(ValidationFailed, match="reserved"):
        parse_spec(spec)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (dt.datetime(2026, 2, 10, 23, 30, tzinfo=SH), dt.datetime(2026, 2, 11, 8, 0, tzinfo=SH)),
        (dt.datetime(2026, 2, 10, 7, 59, tzinfo=SH), dt.datetime(2026, 2, 10, 8, 0, tzinfo=SH)),
        (dt.datetime(2026, 2, 10, 22, 0, tzinfo=SH), dt.datetime(2026, 2, 11, 8, 0, tzinfo=SH)),
        (dt.datetime(2026, 2, 10, 12, 0, tzinfo=SH), dt.datetime(2026, 2, 10, 12, 0, tzinfo=SH)),
        (dt.datetime(2026, 2, 10, 21, 59, tzinfo=SH), dt.datetime(2026, 2, 10, 21, 59, tzinfo=SH)),
    ],
)
def test_quiet_hours_push_sends_to_eight_in_shanghai(local: dt.datetime, expected: dt.datetime) -> None:
    schedule = Schedule()
    assert schedule.next_send_time(local.astimezone(dt.UTC)) == expected.astimezone(dt.UTC)
    assert schedule.in_quiet_hours(local) == (local != expected)


def test_a_category_purchase_rule_round_trips_and_is_checked() -> None:
    spec = parse_spec(export_spec(audience={"bought": {"categories": ["美妆"], "within_days": 30}}))
    assert spec.audience.bought is not None and spec.audience.bought.within_days == 30
    assert "bought:\n    categories:\n    - 美妆\n    within_days: 30" in spec.to_yaml()
    assert parse_spec(spec.to_yaml()) == spec
    for bad, message in (
        ({"categories": []}, "audience.bought.categories"),
        ({"categories": ["美妆"], "within_days": 0}, "audience.bought.within_days"),
        ({"category": "美妆"}, "audience.bought.category"),
        ({"categories": ["美妆"], "windows": {"服饰": 60}}, "windows names 服饰, which categories does not"),
        ({"categories": ["美妆"], "windows": {"美妆": 0}}, "audience.bought.windows.美妆"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            parse_spec(export_spec(audience={"bought": bad}))


def test_a_browse_rule_round_trips_and_is_checked() -> None:
    rule = {"categories": ["美妆"], "within_days": 7, "without_purchase": True}
    spec = parse_spec(export_spec(audience={"viewed": rule, "carted": {}}))
    assert spec.audience.viewed is not None and spec.audience.viewed.without_purchase
    assert spec.audience.carted is not None and spec.audience.carted.categories == []
    assert parse_spec(spec.to_yaml()) == spec
    for bad, message in (
        ({"within_days": 0}, "audience.viewed.within_days"),
        ({"without_purchase": "maybe"}, "audience.viewed.without_purchase"),
        ({"event": "view"}, "audience.viewed.event"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            parse_spec(export_spec(audience={"viewed": bad}))


def test_a_purchase_rule_matches_any_category_unless_it_says_all() -> None:
    """A spec written before `match` existed loads as it read then (any category); `match: all`
    ("买过服饰且买过美妆的") round-trips, and a value other than any / all is refused naming them."""
    old = (
        "name: 美妆唤醒\ngoal: reactivation\nchannels: [{name: export}]\n"
        "audience:\n  bought: {categories: [美妆, 服饰], windows: {美妆: 30}}\n"
        "  not_bought: {categories: [面霜]}\n"
    )
    spec = parse_spec(old)
    assert spec.audience.bought is not None and spec.audience.not_bought is not None
    assert (spec.audience.bought.match, spec.audience.not_bought.match) == ("any", "any")
    assert spec.audience.bought.by_window() == {30: ["美妆"], None: ["服饰"]}
    both = parse_spec(export_spec(audience={"bought": {"categories": ["服饰", "美妆"], "match": "all"}}))
    assert "bought:\n    categories:\n    - 服饰\n    - 美妆\n    match: all" in both.to_yaml()
    assert parse_spec(both.to_yaml()) == both and both.audience.bought.match == "all"  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed, match=r"audience\.bought\.match: Input should be 'any' or 'all'"):
        parse_spec(export_spec(audience={"bought": {"categories": ["美妆"], "match": "both"}}))
