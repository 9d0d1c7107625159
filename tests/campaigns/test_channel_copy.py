"""Copy is compared per (channel, variant): a variant key is another text on each channel, and each
channel splits its own customers between its own variants. Here "A" wins on e-mail and on SMS, but is
sent mostly by SMS (which converts far less) while "B" goes mostly by e-mail: pooled over channels, B
converts more (Simpson's paradox) and the old per-arm P(best) crowned it. The report, `optimize` and
the dashboard must name A on both channels, and the sample-ratio check must expect each channel's own
split."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from marketpilot.api import create_app
from marketpilot.campaigns import service
from marketpilot.campaigns.measure import (
    CampaignMetrics,
    Posterior,
    beta_posteriors,
    customer_outcomes,
    measure,
    prob_best,
    standardised_prob_best,
)
from marketpilot.campaigns.optimize import optimize_campaign
from marketpilot.campaigns.report import (
    BEST_COPY_PROB,
    best_copy,
    channel_rates,
    facts,
    template_narrative,
    variant_chart,
    write_report,
)
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.config import Settings

# E-mail converts far better than SMS; on each channel A beats B.
EFFECTS = {"email": {"A": 0.35, "B": 0.20}, "sms": {"A": 0.08, "B": 0.0}}


def _spec() -> dict:
    """A and B on e-mail (mostly B) and on SMS (mostly A, and SMS is cheaper: most customers get it)."""
    return export_spec(
        audience={},
        channels=[
            {
                "name": "email",
                "cost": 0.1,
                "variants": [
                    {
                        "key": "A",
                        "subject": "新春好礼",
                        "text": "{name}您好，新春全场8折。AI生成",
                        "weight": 1,
                    },
                    {
                        "key": "B",
                        "subject": "好久不见",
                        "text": "{name}您好，好久不见，新春8折。AI生成",
                        "weight": 4,
                    },
                ],
            },
            {
                "name": "sms",
                "cost": 0.05,
                "variants": [
                    {"key": "A", "text": "{name}，新春全场8折", "weight": 4},
                    {"key": "B", "text": "{name}，好久不见！新春8折", "weight": 1},
                ],
            },
        ],
    )


def _launch_and_respond(  # type: ignore[no-untyped-def]
    settings: Settings, engine: Engine, campaign_id: str, spec: dict | None = None
):
    """The campaign of `spec` (`_spec()`) sent, its customers' responses simulated with EFFECTS and
    ingested: (campaign id, the run, the simulation's truth)."""
    cid, run = launch(settings, spec or _spec(), campaign_id=campaign_id)
    truth = simulate_responses(
        settings,
        engine,
        cid,
        1,
        SimulationConfig(seed=4, channel_effects=EFFECTS),
        spec=service.get_spec(engine, cid)[0],
    )
    ingest_file(engine, truth.events_file)
    return cid, run, truth


def _pooled_prob_best(frame: pd.DataFrame) -> dict[str, float]:
    """P(best) per arm pooled over channels: what `measure` reported before copy was kept per channel."""
    treated = frame[frame["arm"] != "holdout"].groupby("arm")["converted"].agg(["sum", "count"])
    return prob_best({a: (1.0 + r["sum"], 1.0 + r["count"] - r["sum"]) for a, r in treated.iterrows()})


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_copy_is_judged_per_channel_where_pooling_names_the_wrong_winner(
    shop_settings: Settings, engine: Engine, smtp_server, sms_gateway
) -> None:
    cid, run, truth = _launch_and_respond(shop_settings, engine, "渠道文案-0a1b2c")
    assert run.sent > 1000
    # The premise: A is better on each channel, B better pooled (its customers are mostly e-mail's).
    for channel in ("email", "sms"):
        assert truth.true_channel_lift[channel]["A"] > truth.true_channel_lift[channel]["B"]
    assert truth.true_variant_lift["B"] > truth.true_variant_lift["A"]

    metrics = measure(engine, cid)
    rates = {a.arm: a.conversion_rate for a in metrics.arms}
    assert rates["B"] > rates["A"]  # the pooled rates point at B …
    # … and so did the old P(best), past the bar at which the report named the best copy.
    assert _pooled_prob_best(customer_outcomes(engine, cid, 1))["B"] >= BEST_COPY_PROB
    # Per channel, A is the better copy on both, each P(best) among its own channel's variants.
    best = {(p.channel, p.arm): p.prob_best for p in metrics.posteriors}
    assert set(best) == {("email", "A"), ("email", "B"), ("sms", "A"), ("sms", "B")}
    assert best["email", "A"] > 0.95 and best["sms", "A"] > 0.95
    for channel in ("email", "sms"):
        assert best[channel, "A"] + best[channel, "B"] == pytest.approx(1.0)
    frame = customer_outcomes(engine, cid, 1)
    for p in metrics.posteriors:
        cell = frame[(frame["channel"] == p.channel) & (frame["arm"] == p.arm)]
        assert (p.customers, p.converters) == (len(cell), int(cell["converted"].sum()))
    # Each arm is another text on each channel and no offer of its own: no arm-level P(best).
    assert metrics.arm_posteriors == []
    # Channels split their customers 1:4 and 4:1: the expected split is per channel, not 5:5 pooled.
    assert metrics.srm is not None and not metrics.srm.mismatch
    sizes = frame["channel"].value_counts(normalize=True)
    assert metrics.srm.expected["A"] / sum(metrics.srm.observed.values()) == pytest.approx(
        0.9 * (sizes["email"] * 0.2 + sizes["sms"] * 0.8)
    )

    f = facts(metrics, "en")
    assert f["email_best_copy"] == f["sms_best_copy"] == "A" and "best_copy" not in f
    assert f["email_variant_A_prob_best_percent"] == round(best["email", "A"] * 100, 1)
    text = template_narrative(metrics, "en")
    assert "email: Best copy: A" in text and "sms: Best copy: A" in text and "Best copy: B" not in text
    report = write_report(shop_settings, engine, cid, use_llm=False)
    page = report.path.read_text(encoding="utf-8")
    assert "渠道内胜出概率" in page and "<td>sms</td><td>A</td>" in page

    # The dashboard ranks copy per channel too, and states no arm-level P(best) for these arms.
    client = TestClient(create_app(shop_settings, require_key=False))
    html = client.get(f"/ui/campaigns/{cid}").text
    assert "Copy by channel" in html
    assert "email：最佳文案 best copy <b>A</b>" in html and "sms：最佳文案 best copy <b>A</b>" in html

    proposal = optimize_campaign(shop_settings, engine, cid, rewrite=False)
    new, _ = service.get_spec(engine, cid, proposal.version)
    weights = {(plan.name, v.key): v.weight for plan in new.channels for v in plan.variants}
    assert weights["email", "A"] > weights["email", "B"] and weights["sms", "A"] > weights["sms", "B"]
    assert new.assignment == "thompson"
    assert any(c.startswith("email: weights → ") and "(winner A" in c for c in proposal.changes)
    assert any(c.startswith("sms: weights → ") and "(winner A" in c for c in proposal.changes)
    assert "assignment → thompson" in proposal.changes


def test_a_thompson_campaign_reweighted_names_no_assignment_change(
    shop_settings: Settings, engine: Engine, smtp_server, sms_gateway
) -> None:
    # The proposal listed "assignment → thompson" for a spec that already assigned by Thompson.
    cid, _, _ = _launch_and_respond(
        shop_settings, engine, "copy-thompson", {**_spec(), "assignment": "thompson"}
    )
    proposal = optimize_campaign(shop_settings, engine, cid, rewrite=False)
    assert any(c.startswith("email: weights → ") for c in proposal.changes)
    assert not any(c.startswith("assignment") for c in proposal.changes)


def _bars(fig) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    """Bar heights of a chart's one axes, by the label of each bar series."""
    return {c.get_label(): [b.get_height() for b in c] for c in fig.axes[0].containers}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_report_charts_conversion_per_arm_and_channel(
    shop_settings: Settings, engine: Engine, smtp_server, sms_gateway
) -> None:
    """Pooled, B's bar stands above A's (most of B went by e-mail); per channel, A's is the higher on
    both, as the post-stratified lift table says. The chart draws a bar per channel for each arm."""
    cid, _, _ = _launch_and_respond(shop_settings, engine, "渠道图表-0a1b2c")
    metrics = measure(engine, cid)
    frame = customer_outcomes(engine, cid, 1)
    counts = {
        (str(channel), str(arm)): (len(g), int(g["converted"].sum()))
        for (channel, arm), g in frame.groupby(["channel", "arm"])
    }
    assert {(c.channel, c.arm): (c.customers, c.converters) for c in metrics.by_channel} == counts
    assert ("email", "holdout") in counts and ("sms", "holdout") in counts

    rates = channel_rates(metrics)
    assert set(rates) == {"email", "sms"}
    fig = variant_chart(metrics, "zh")
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["A", "B", "对照组"]
    assert ax.get_title() == "各组转化率（按渠道）" and ax.get_legend().get_title().get_text() == "渠道"
    bars = _bars(fig)
    for channel in ("email", "sms"):
        x = {arm: counts[channel, arm] for arm in ("A", "B", "holdout")}
        assert bars[channel] == pytest.approx([100 * c / n for n, c in x.values()])
        assert bars[channel][0] > bars[channel][1]  # A above B on each channel
    pooled = {a.arm: a.conversion_rate for a in metrics.arms}
    assert pooled["B"] > pooled["A"]  # what the one-bar-per-arm chart showed
    with warnings.catch_warnings():  # Chinese labels drawn with the bundled CJK font, not as boxes
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        fig.savefig(shop_settings.home_dir / "variants.png")

    page = write_report(shop_settings, engine, cid, use_llm=False).path.read_text(encoding="utf-8")
    assert 'alt="variants"' in page and "&quot;by_channel&quot;" in page  # metrics.json, escaped


def _arm(arm: str, customers: int, converters: int) -> str:
    return (
        f'{{"arm": "{arm}", "customers": {customers}, "sent": {customers}, "delivered": {customers}, '
        f'"opened": 0, "clicked": 0, "converters": {converters}, '
        f'"conversion_rate": {converters / customers}, "revenue": 0.0, "revenue_per_customer": 0.0, '
        '"cost": 0.0}'
    )


# metrics.json as `campaign report --json` wrote it before posteriors were per channel: each arm's
# Beta(1 + conversions, 1 + non-conversions) pooled over channels, without channel or counts.
OLD_METRICS = f"""{{"campaign_id": "春节唤醒-3fa9c2", "version": 1, "currency": "CNY",
 "arms": [{_arm("A", 300, 30)}, {_arm("B", 300, 10)}, {_arm("holdout", 60, 3)}],
 "overall": {_arm("overall", 660, 43)}, "lift": null, "variant_lift": [], "mde": null,
 "sample_size_per_group": null, "srm": null,
 "posteriors": [{{"arm": "A", "alpha": 31.0, "beta": 271.0, "mean": 0.1026490066, "prob_best": 0.998}},
                {{"arm": "B", "alpha": 11.0, "beta": 291.0, "mean": 0.0364238411, "prob_best": 0.002}}],
 "roi": null, "incremental_revenue": 0.0, "total_cost": 0.0, "segments": []}}"""


def test_a_posterior_saved_before_channels_keeps_its_counts() -> None:
    """Read as 0 customers, the old record's arms were too small to judge, and a clear winner was
    "no copy is clearly best yet"; alpha and beta give their counts back."""
    metrics = CampaignMetrics.model_validate_json(OLD_METRICS)
    assert [(p.arm, p.channel, p.customers, p.converters) for p in metrics.posteriors] == [
        ("A", None, 300, 30),
        ("B", None, 300, 10),
    ]
    assert best_copy(metrics, "") == "A" and facts(metrics, "en")["best_copy"] == "A"
    assert channel_rates(metrics) == {}  # no per-channel counts in it: its chart stays one bar per arm
    never = Posterior.model_validate_json(
        '{"arm": "C", "alpha": 1, "beta": 1, "mean": 0.5, "prob_best": 0.5}'
    )
    assert (never.customers, never.converters) == (0, 0)  # an arm that truly reached no one
    # A Beta that is no count of customers cannot be read as one.
    with pytest.raises(ValidationError, match="cannot be recovered"):
        Posterior.model_validate_json(
            '{"arm": "C", "alpha": 2.5, "beta": 7.0, "mean": 0.26, "prob_best": 0.1}'
        )
    # Today's records are read as written.
    new = Posterior(
        arm="A", alpha=4.0, beta=8.0, mean=1 / 3, prob_best=0.6, channel="sms", customers=10, converters=3
    )
    assert Posterior.model_validate_json(new.model_dump_json()) == new


def test_standardised_prob_best_compares_arms_on_one_channel_mix() -> None:
    # A converts 35 % vs B's 25 % on e-mail and 10 % vs 6 % on SMS, but is sent mostly by SMS.
    post = {
        "email": {"A": (1.0 + 35, 1.0 + 65), "B": (1.0 + 200, 1.0 + 600)},
        "sms": {"A": (1.0 + 90, 1.0 + 810), "B": (1.0 + 6, 1.0 + 94)},
    }
    pooled = {"A": (1.0 + 125, 1.0 + 875), "B": (1.0 + 206, 1.0 + 694)}  # 12.5 % vs 22.9 %
    assert prob_best(pooled)["B"] > 0.99
    channels, means, best = standardised_prob_best(post, {"email": 0.5, "sms": 0.5})
    assert channels == ["email", "sms"] and best["A"] > 0.99
    assert means["A"] == pytest.approx(0.5 * 36 / 102 + 0.5 * 91 / 902)
    # One channel: exactly `prob_best` there.
    assert standardised_prob_best({"sms": post["sms"]}, {"sms": 1.0}, seed=3)[2] == prob_best(
        post["sms"], seed=3
    )
    # Only channels carrying every arm are compared on; none at all gives nothing.
    only = {"email": {"A": (2.0, 9.0)}, "sms": {"B": (3.0, 9.0)}}
    assert standardised_prob_best(only, {"email": 0.5, "sms": 0.5}) == ([], {}, {})


def test_beta_posteriors_are_per_channel() -> None:
    frame = pd.DataFrame(
        {
            "arm": ["A", "A", "B", "A", "holdout"],
            "channel": ["email", "sms", "sms", "sms", "sms"],
            "converted": [True, False, True, True, True],
        }
    )
    assert beta_posteriors(frame) == {
        "email": {"A": (2.0, 1.0)},
        "sms": {"A": (2.0, 2.0), "B": (2.0, 1.0)},
    }


def test_one_channel_keeps_the_arm_level_figure(shop_settings: Settings, engine: Engine) -> None:
    """On a campaign's only channel an arm is its one copy: arm-level P(best) equals the channel's."""
    cid, _ = launch(shop_settings, export_spec(audience={}), campaign_id="单渠道-0a1b2c")
    sim = simulate_responses(
        shop_settings, engine, cid, 1, SimulationConfig(seed=1), spec=parse_spec(export_spec(audience={}))
    )
    ingest_file(engine, sim.events_file)
    metrics = measure(engine, cid)
    assert [(p.arm, p.prob_best, p.customers) for p in metrics.arm_posteriors] == [
        (p.arm, p.prob_best, p.customers) for p in metrics.posteriors
    ]
    assert {p.channel for p in metrics.posteriors} == {"export"}
    assert "best_copy" in facts(metrics, "en")  # fact names as on every one-channel campaign
    # Its chart stays one bar per arm, holdout included, at the arm's pooled rate.
    assert channel_rates(metrics) == {}
    fig = variant_chart(metrics, "en")
    assert fig.axes[0].get_title() == "Conversion rate by arm" and fig.axes[0].get_legend() is None
    assert list(_bars(fig).values()) == [pytest.approx([100 * a.conversion_rate for a in metrics.arms])]
