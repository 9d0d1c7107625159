"""What each dashboard page shows, as plain data from the library (the templates only lay it out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from marketpilot.config import Settings
from marketpilot.web.charts import bar, line

CAMPAIGNS_PER_PAGE = 50
# The PNG each `decide <kind>` draws beside its summary (served at /ui/decisions/<kind>/chart.png).
CHART_FILES = {"uplift": "qini.png", "budget": "curves.png", "promo": "baskets.png"}
NO_CURRENCY = "未注明币种 no currency"  # orders whose currency column is empty
# Characters of a spec the campaign page shows: `include` or `channel_overrides` may list a hundred
# thousand customer ids, megabytes nobody reads in a browser (`campaign show` prints it whole).
MAX_SPEC_SHOWN = 20_000
# Price positions (analytics.pricing.POSITIONS) as the price chart's legend names them
POSITION_LABELS = {
    "cheapest": "最低价 cheapest",
    "below market": "低于市场 below market",
    "at market": "持平市场 at market",
    "above market": "高于市场 above market",
    "most expensive": "最高价 most expensive",
}
ModelT = TypeVar("ModelT", bound=BaseModel)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from marketpilot.campaigns.copy import UsedVariant
    from marketpilot.campaigns.measure import CampaignMetrics
    from marketpilot.campaigns.spec import CampaignSpec


def overview(settings: Settings) -> dict[str, Any]:
    """Store counts, sales and net revenue (less the returns and cancellations exported as documents
    of their own) per currency and per month; empty before any data is loaded. Amounts in different
    currencies are shown side by side, never added: there is no rate."""
    from marketpilot.data.queries import currency_totals, customer_counts, monthly_sales
    from marketpilot.data.store import DB_FILE, Store

    if not (settings.home_dir / DB_FILE).exists():
        return {"loaded": False}
    with Store.open(settings, read_only=True) as store:
        counts = {table: store.count(table) for table in ("orders", "products", "reviews")}
        monthly = monthly_sales(store)
        members, guests = customer_counts(store)
    totals = currency_totals(monthly)  # from the months: the reversal matching runs once per load
    if not (members or guests or any(counts.values())):  # a store made, nothing loaded into it
        return {"loaded": False}
    totals["currency"] = totals["currency"].fillna(NO_CURRENCY)
    monthly["currency"] = monthly["currency"].fillna(NO_CURRENCY)
    currencies = totals["currency"].tolist()
    by_month = monthly.pivot(index="month", columns="currency", values="revenue").fillna(0.0)
    unit = f"销售额 {currencies[0]}" if len(currencies) == 1 else "销售额 revenue, per currency"
    return {
        "loaded": True,
        "customers": members,
        "guests": guests,
        **counts,
        "orders": int(totals["orders"].sum()),  # sales: not the reversal documents nor voided orders
        "revenue": totals.to_dict("records"),
        # no completed order yet (a catalogue alone): the page says so rather than drawing empty axes
        "chart": line(by_month.index.tolist(), {c: by_month[c].tolist() for c in currencies}, unit=unit)
        if currencies
        else None,
    }


def segments(settings: Settings) -> dict[str, Any] | None:
    """The last segmentation: one row per segment with its persona, and a chart of sizes and revenue."""
    from marketpilot.analytics.segments.service import SegmentationResult
    from marketpilot.errors import UserError

    path = settings.home_dir / "intel" / "segments.json"
    if not path.exists():
        return None
    try:
        result = SegmentationResult.model_validate_json(path.read_bytes())
    except ValidationError:  # another release wrote it, or it was cut short: a page, not a 500
        raise UserError(
            "The last segmentation (intel/segments.json) cannot be read.",
            hint="run `marketpilot segment` again",
        ) from None
    small = result.small_segments
    rows = [
        {
            "segment": s.stats.segment,
            "name": s.persona.name,
            "description": s.persona.description,
            "customers": s.stats.customers,
            "customer_share": s.stats.customer_share,
            "revenue_share": s.stats.revenue_share,
            "aov": s.stats.aov,
            "recency_days": s.stats.recency_days,
            "churn_risk": s.stats.churn_risk,
            "under_minimum": small is not None and s.stats.segment in small.sizes,
        }
        for s in result.segments
    ]
    names = [f"{r['segment']} {r['name']}" for r in rows]
    chart = bar(
        names,
        {
            "客户占比 customers %": [100 * r["customer_share"] for r in rows],
            "销售额占比 revenue %": [100 * r["revenue_share"] for r in rows],
        },
        unit="%",
    )
    # The dashboard is bilingual: why k was chosen, in Chinese and English.
    why = {lang: result.k_choice.explain(lang) for lang in ("zh", "en")} if result.k_choice else None
    warning = {lang: small.explain(lang) for lang in ("zh", "en")} if small else None
    return {
        "as_of": result.as_of,
        "method": result.method,
        "currency": result.currency,
        "rows": rows,
        "chart": chart,
        "why_k": why,
        "small_segments": warning,
    }


def _no_state(settings: Settings) -> bool:
    """No campaign was ever stored: the SQLite file is not there (opening it would make it)."""
    return settings.database_url is None and not (settings.home_dir / "state.sqlite").exists()


def campaigns(settings: Settings, page: int = 1) -> dict[str, Any]:
    """One page of campaigns, newest first (`page` past the last shows the last)."""
    from marketpilot.campaigns.service import list_campaigns
    from marketpilot.campaigns.state.db import open_state

    if _no_state(settings):
        return {"rows": [], "page": 1, "pages": 1, "total": 0}
    frame = list_campaigns(open_state(settings)).iloc[::-1]
    pages = max(1, -(-len(frame) // CAMPAIGNS_PER_PAGE))
    page = min(page, pages)
    rows = frame.iloc[(page - 1) * CAMPAIGNS_PER_PAGE : page * CAMPAIGNS_PER_PAGE].to_dict("records")
    return {"rows": rows, "page": page, "pages": pages, "total": len(frame)}


def _approvals(engine: Engine, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's sign-offs alone: audit_trail also reads every assignment and message, which for
    a campaign sent to a million customers made each page view read a million rows."""
    from sqlalchemy import select

    from marketpilot.campaigns.state.models import Approval

    columns = (Approval.version, Approval.approver, Approval.note, Approval.approved_at)
    with engine.connect() as con:
        rows = con.execute(select(*columns).where(Approval.campaign_id == campaign_id).order_by(Approval.id))
        return [dict(row._mapping) for row in rows]


def approved_by(settings: Settings, campaign_id: str, approver: str) -> int | None:
    """The current version if `approver` signed it off already, else None."""
    from marketpilot.campaigns.service import get_spec
    from marketpilot.campaigns.state.db import open_state

    engine = open_state(settings)
    _, version = get_spec(engine, campaign_id)
    signed = {(a["version"], a["approver"]) for a in _approvals(engine, campaign_id)}
    return version if (version, approver) in signed else None


def campaign(settings: Settings, campaign_id: str) -> dict[str, Any]:
    """Spec, approvals, message counts (with a chart) and the variants of one campaign."""
    from marketpilot.campaigns.copy import used_copy
    from marketpilot.campaigns.service import MAX_APPROVER, MAX_NOTE, get_spec, message_counts
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.errors import NotFoundError

    if _no_state(settings):
        raise NotFoundError(f"No campaign {campaign_id!r}.", hint="there are no campaigns in this home yet")
    engine = open_state(settings)
    spec, version = get_spec(engine, campaign_id)
    counts = message_counts(engine, campaign_id)
    approvals = _approvals(engine, campaign_id)
    used = used_copy(engine, campaign_id, version)  # empty before the version's first run
    statuses = sorted({c["status"] for c in counts})
    channels = sorted({c["channel"] for c in counts})
    chart = bar(
        channels,
        {s: [sum(c["messages"] for c in counts if c["channel"] == ch and c["status"] == s) for ch in channels]
         for s in statuses},
        stacked=True,
        unit="条 messages",
    )  # fmt: skip
    chart["legend"]["show"] = True  # the series are statuses: all sent or all failed must say which
    return {
        "id": campaign_id,
        "version": version,
        "spec": spec,
        **_shown_spec(spec.to_yaml()),
        "approved": any(a["version"] == version for a in approvals),
        "max_approver": MAX_APPROVER,
        "max_note": MAX_NOTE,
        "approvals": approvals,
        "counts": counts,
        "chart": chart if counts else None,
        "results": _results(settings, engine, spec, campaign_id, version),
        "ran": bool(used),
        "variants": [
            # An approver checks each arm's copy against the offer that arm gets.
            {
                "channel": channel.name,
                "key": v.key,
                **_copy_shown(v.text, used, channel.name, v.key),
                "offer": spec.offer_for(v.key).description,
            }
            for channel in spec.channels
            for v in channel.variants
        ],
    }


def _copy_shown(
    spec_text: str | None, used: dict[str, dict[str, UsedVariant]], channel: str, key: str
) -> dict[str, Any]:
    """A variant's text as the page shows it. A key the spec leaves without text gets the model's copy
    at `campaign run`; once the version ran, the copy it was sent with, or none where the spec's text
    failed the guardrails or the model fell short (the key got no customers on that channel)."""
    if not used:
        return {"text": spec_text, "by_model": False}
    sent = used.get(channel, {}).get(key)
    return {"text": sent.text if sent else None, "by_model": sent is not None and sent.source == "llm"}


def _shown_spec(text: str) -> dict[str, Any]:
    """The spec's YAML up to MAX_SPEC_SHOWN characters, cut at a line's end, and what was cut."""
    if len(text) <= MAX_SPEC_SHOWN:
        return {"spec_yaml": text, "spec_cut": None}
    end = text.rfind("\n", 0, MAX_SPEC_SHOWN) + 1 or MAX_SPEC_SHOWN  # one huge line: cut inside it
    rest = text[end:]
    return {"spec_yaml": text[:end], "spec_cut": {"chars": len(rest), "lines": rest.count("\n")}}


def _results(
    settings: Settings, engine: Engine, spec: CampaignSpec, campaign_id: str, version: int
) -> dict[str, Any] | None:
    """What the version's messages did, as `campaign report` states it: per arm conversion and lift
    over the holdout with its 95 % interval and P(best) where an arm is one thing on every channel;
    per channel each copy's conversion and P(best) there, and the copy the report calls the best; for
    offers whether each paid and the depth of most profit; None before anything was sent."""
    from marketpilot.campaigns.measure import measure
    from marketpilot.campaigns.report import best_copy, break_even_lines, copies_by_channel, depth_lines
    from marketpilot.data.money import minor_digits

    metrics = measure(engine, campaign_id, version, currency=settings.currency)
    if not any(a.sent for a in metrics.arms):
        return None
    lifts = {lift.arm: lift for lift in metrics.variant_lift}
    # Arm-level P(best) only where the arm is one thing across channels (measure's arm_posteriors).
    best = {p.arm: p.prob_best for p in metrics.arm_posteriors}
    copies = [
        {
            "channel": channel,
            "best": best_copy(metrics, channel),
            "rows": [
                {
                    "arm": p.arm,
                    "customers": p.customers,
                    "converters": p.converters,
                    "rate": p.converters / p.customers if p.customers else 0.0,
                    "best": p.prob_best,
                }
                for p in variants
            ],
        }
        for channel, variants in copies_by_channel(metrics).items()
    ]
    rows = [
        {
            "arm": a.arm,
            "offer": spec.offer_for(a.arm).description if a.arm != "holdout" else "",
            "customers": a.customers,
            "sent": a.sent,
            "converters": a.converters,
            "rate": a.conversion_rate,
            "lift": lifts.get(a.arm),
            "best": best.get(a.arm),
            "revenue": a.revenue,
            "cost": a.cost,
        }
        for a in metrics.arms
    ]
    return {
        "rows": rows,
        "copies": copies,
        "currency": settings.currency,
        "cents": minor_digits(settings.currency),  # decimals of the currency: none for JPY
        "lift": metrics.lift,
        # The numbers behind the warning, as the text report states them: which arm is off, by how much.
        "srm": (
            {
                "arms": [
                    {"arm": arm, "observed": n, "expected": metrics.srm.expected.get(arm, 0.0)}
                    for arm, n in metrics.srm.observed.items()
                ],
                "chi2": metrics.srm.chi2,
                "p_value": metrics.srm.p_value,
            }
            if metrics.srm is not None and metrics.srm.mismatch
            else None
        ),
        "lines": [*break_even_lines(metrics, spec.break_evens(), spec.language), *depth_lines(spec, metrics)],
        "chart": _conversion_chart(metrics),
    }


def _conversion_chart(metrics: CampaignMetrics) -> dict[str, Any]:
    """Conversion rate per arm; on two or more channels a bar per channel in each arm's group (as the
    report's chart), since pooled over channels the arm sent mostly where customers convert best looks
    better than it is. An arm not sent on a channel has no bar there, not a zero one."""
    from marketpilot.campaigns.report import channel_rates

    arms = [a.arm for a in metrics.arms]
    channels = channel_rates(metrics)
    if not channels:
        return bar(arms, {"转化率 conversion %": [100 * a.conversion_rate for a in metrics.arms]}, unit="%")
    chart = bar(
        arms,
        {
            channel: [100 * cells[arm].conversion_rate if arm in cells else None for arm in arms]
            for channel, cells in channels.items()
        },
        unit="%",
    )
    # ECharts has no legend title: a small title stands above the legend, both at the right.
    chart["title"] = {"text": "渠道 channel", "right": 0, "top": 0, "textStyle": {"fontSize": 12}}
    chart["legend"] |= {"orient": "vertical", "right": 0, "top": 24}
    chart["grid"]["right"] = 112
    return chart


def review_categories(settings: Settings) -> list[str]:
    from marketpilot.data.store import DB_FILE, Store

    if not (settings.home_dir / DB_FILE).exists():
        return []
    with Store.open(settings, read_only=True) as store:
        frame = store.query(
            "SELECT p.category FROM reviews r JOIN products p USING (product_id) "
            "WHERE p.category IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC"
        )
    return frame["category"].astype(str).tolist()


def reviews(settings: Settings, category: str) -> dict[str, Any]:
    """Review insight for one category without the LLM: aspects (chart of praise, complaints and
    neutral mentions), keywords, complaint clusters."""
    from marketpilot.analytics.reviews.insight import review_insight

    insight = review_insight(settings, category=category, use_llm=False)
    aspects = insight.aspects
    # The report's chart (reviews/report.py) stacks the same three counts in the same order.
    chart = bar(
        [a.name for a in aspects],
        {
            "好评 praise": [a.positive for a in aspects],
            "差评 complaints": [a.negative for a in aspects],
            "中性 neutral": [a.neutral for a in aspects],
        },
        stacked=True,
        colors=["#3ebd93", "#e66a6a", "#a0a0a0"],
        unit="条评价 reviews",
    )
    return {"insight": insight, "chart": chart}


def as_json(options: dict[str, Any] | None) -> str:
    """Chart options for a <script> tag. <, > and & become JSON escapes: `</script>` would close the
    tag early and `<!--<script>` (a channel or category named so) would swallow the rest of the page."""
    text = json.dumps(options, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def decisions(settings: Settings) -> dict[str, Any]:
    """The last run of each `marketpilot decide` command, from the summaries they write."""
    import pandas as pd

    from marketpilot.analytics.budget import BudgetPlan
    from marketpilot.analytics.decision_report import VERDICTS, gain_shown, recommendation_text
    from marketpilot.analytics.pricing import POSITIONS, PricingReport
    from marketpilot.analytics.promo import PromoPlan
    from marketpilot.analytics.uplift import UpliftReport

    folder = settings.home_dir / "decisions"
    out: dict[str, Any] = {}
    stale: list[str] = []
    if (uplift := _summary(UpliftReport, folder, "uplift", stale)) is not None:
        depths = [f"{i}%" for i in range(101)]
        curves = {arm: curve for arm, curve in uplift.qini_curves.items()}
        curves |= {
            f"{arm} · random": [c[-1] * i / 100 for i in range(101)] for arm, c in uplift.qini_curves.items()
        }
        chart = line(depths, curves, unit=f"增量 incremental {uplift.outcome}", scroll=False)
        chart["xAxis"]["axisLabel"] = {"interval": 9}  # every 10 %
        chart["xAxis"]["name"] = "定向比例 targeted"
        for series in chart["series"]:
            series |= {"showSymbol": False, "smooth": False}
            if series["name"].endswith(" · random"):
                series["lineStyle"] = {"type": "dashed"}
        advice = " / ".join(recommendation_text(uplift.policies, lang) for lang in ("zh", "en"))
        gain, (low, high) = gain_shown(uplift.policies)
        out["uplift"] = {
            "report": uplift,
            "advice": advice,
            "chart": chart,
            "gain": {"value": gain, "low": low, "high": high},
        }
    if (plan := _summary(BudgetPlan, folder, "budget", stale)) is not None:
        channels = plan.allocation.channels
        # a summary written before plans recorded their currency was planned in the shop's
        currency = plan.currency or settings.currency
        chart = bar(
            [c.channel for c in channels],
            {
                "today 当前": [c.current_spend for c in channels],
                "recommended 建议": [c.spend for c in channels],
            },
            unit=f"投入 spend ({currency})",
        )
        fit = {c.channel: c for c in plan.curves}
        out["budget"] = {"plan": plan, "fit": fit, "chart": chart, "currency": currency}
    if (price := _summary(PricingReport, folder, "price", stale)) is not None:
        # the folder, not the path the summary recorded: a home may have moved since
        tables = folder / "price" / "categories.parquet"
        categories = pd.read_parquet(tables) if tables.exists() else pd.DataFrame()
        shares = (
            {POSITION_LABELS[p]: (100 * categories[f"share {p}"]).tolist() for p in POSITIONS}
            if len(categories)
            else {}
        )
        chart = (
            bar(categories["category"].astype(str).tolist(), shares, stacked=True, unit="% 商品 products")
            if shares
            else None
        )
        out["price"] = {"report": price, "categories": categories.to_dict("records"), "chart": chart}
    if (promo := _summary(PromoPlan, folder, "promo", stale)) is not None:
        out["promo"] = promo
        # the verdict in words, as the promo report says it, not its identifier (too_few_orders)
        out["promo_verdicts"] = {v: f"{VERDICTS['zh'][v]} / {VERDICTS['en'][v]}" for v in VERDICTS["zh"]}
        # a separate file: deleted, or left behind when the home was copied, the page says so
        out["promo_chart"] = (folder / "promo" / CHART_FILES["promo"]).is_file()
    if stale:
        out["stale"] = stale
    return out


def _summary(model: type[ModelT], folder: Path, kind: str, stale: list[str]) -> ModelT | None:
    """The summary `decide <kind>` wrote, if any. One this version cannot read (written by another
    release, cut short) goes to `stale`, so the page asks for a new run and still shows the others."""
    path = folder / kind / "summary.json"
    if not path.exists():
        return None
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError:
        stale.append(kind)
        return None
