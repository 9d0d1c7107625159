"""`marketpilot decide …`: decision support — uplift targeting, competitor price positioning, the
budget split across channels and coupon design. Each command calls one library function (the one the
tests call)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from marketpilot.cli.app import (
    HomeOption,
    JsonOption,
    app,
    console,
    options,
    print_json,
    print_table,
    settings_for,
)
from marketpilot.config import Settings
from marketpilot.errors import UserError
from marketpilot.wording import counted

if TYPE_CHECKING:
    from marketpilot.analytics.decision_report import Facts, Kind

decide_app = typer.Typer(
    help="Decision support (决策支持): uplift targeting, price positioning, budget split, coupon design.",
    no_args_is_help=True,
)
app.add_typer(decide_app, name="decide")


def _pairs(values: list[str] | None, flag: str) -> dict[str, float]:
    """NAME=AMOUNT options (the name may hold '=' and Chinese) into a dict."""
    out: dict[str, float] = {}
    for value in values or []:
        name, sep, amount = value.rpartition("=")
        try:
            out[name.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UserError(f"{flag} takes NAME=AMOUNT, e.g. {flag} 'Mens E-Mail=0.05'; got {value!r}")
    return out


ReportOption = Annotated[
    bool,
    typer.Option(
        "--report",
        help="Also write report.md: the figures, the chart and an LLM narrative checked against the figures.",
    ),
]


def _language(lang: str) -> str:
    # checked as the flags are read: a report's language found wrong after the analysis has written
    # its tables would leave them behind under an error
    if lang not in ("zh", "en"):
        raise typer.BadParameter(f"zh or en, not {lang!r}")
    return lang


LangOption = Annotated[str, typer.Option("--lang", help="Report language: zh or en.", callback=_language)]


def _write_report(
    settings: Settings,
    kind: Kind,
    facts: Facts,
    lang: str,
    chart: Path | None,
    names: Facts | None = None,
) -> dict[str, str]:
    from marketpilot.analytics.decision_report import write_decision_report

    path, narrative = write_decision_report(settings, kind, facts, language=lang, chart=chart, names=names)
    return {"path": str(path), "narrative": narrative.text, "narrative_source": narrative.source}


def _show_report(written: dict[str, str] | None) -> None:
    if written:
        console.print(f"\n{written['narrative']}\nReport ({written['narrative_source']}): {written['path']}")


@decide_app.command("uplift")
def uplift(
    input: Annotated[
        Path, typer.Option("--input", help="A past randomised experiment: one row per customer.")
    ],
    treatment_col: Annotated[str, typer.Option("--treatment-col", help="Column naming each row's arm.")],
    control: Annotated[str, typer.Option("--control", help="The arm that got nothing (the holdout).")],
    outcome_col: Annotated[
        str, typer.Option("--outcome-col", help="Outcome per row: 1/0 (visit, conversion) or an amount.")
    ],
    features: Annotated[
        str,
        typer.Option("--features", help="Comma-separated columns known before the send (never outcomes)."),
    ],
    id_col: Annotated[str | None, typer.Option("--id-col", help="Customer id column for the scores.")] = None,
    value: Annotated[float, typer.Option("--value", help="Worth of one unit of outcome.")] = 1.0,
    cost: Annotated[
        list[str] | None, typer.Option("--cost", help="ARM=COST per customer sent that arm; repeatable.")
    ] = None,
    top: Annotated[
        float | None, typer.Option("--top", help="Treat at most this share of customers (0.3 = 30 %).")
    ] = None,
    score: Annotated[
        Path | None,
        typer.Option("--score", help="Customers to score (same feature columns); default: --input."),
    ] = None,
    test_share: Annotated[
        float, typer.Option("--test-share", help="Rows held out to judge the model.")
    ] = 0.3,
    report_md: ReportOption = False,
    lang: LangOption = "zh",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Who should get which treatment: judged on held-out rows, then scored per customer."""
    from marketpilot.analytics.decision_report import recommendation_text, uplift_facts
    from marketpilot.analytics.uplift import Experiment, fit_experiment

    experiment = options(
        Experiment,
        path=input,
        treatment_col=treatment_col,
        control=control,
        outcome_col=outcome_col,
        features=[f.strip() for f in features.split(",") if f.strip()],
        id_col=id_col,
        value=value,
        costs=_pairs(cost, "--cost"),
        top=top,
        test_share=test_share,
    )
    settings = settings_for(home)
    report = fit_experiment(experiment, settings, score_path=score)
    written = None
    if report_md:
        written = _write_report(settings, "uplift", uplift_facts(report, lang), lang, report.chart_path)
    if json_out:
        print_json(report.model_dump(mode="json") | {"report": written})
        return
    table = Table(title=f"Held-out uplift of {outcome_col} ({report.held_out:,} of {report.rows:,} rows)")
    for column in (
        "arm",
        "avg uplift",
        "Qini",
        "p",
        "top 10 % captures",
        "top 30 % captures",
        "uplift top 30 %",
    ):
        table.add_column(column)
    for q in report.qini:
        table.add_row(
            q.arm,
            f"{q.average_uplift:.4f}",
            f"{q.qini:.4f}",
            f"{q.p_value:.3f}",
            f"{q.captured['10%']:.0%}",
            f"{q.captured['30%']:.0%}",
            f"{q.uplift_at['30%']:.4f}",
        )
    print_table(table)
    p = report.policies
    low, high = p.gain_over_best_blanket_interval
    random_gain = ""
    if p.gain_over_random_same_share is not None and p.gain_over_random_same_share_interval is not None:
        r_low, r_high = p.gain_over_random_same_share_interval
        random_gain = (
            f"; gain {p.gain_over_random_same_share:+.4f} (95 % interval {r_low:+.4f} to {r_high:+.4f})"
        )
    console.print(
        f"Value per customer on held-out rows: targeted {p.targeted:.4f}; best single arm for everyone "
        f"({p.best_blanket}) {p.everyone[p.best_blanket]:.4f}; gain {p.gain_over_best_blanket:+.4f} "
        f"(95 % interval {low:+.4f} to {high:+.4f}, {p.bootstrap_resamples} paired bootstrap resamples).\n"
        f"Targeting sends: {', '.join(f'{arm} {share:.0%}' for arm, share in p.targeted_share.items())} "
        f"(the best arm to a random sample of the same size: {p.random_same_share:.4f}{random_gain}).\n"
        f"[bold]Recommendation:[/] {escape(recommendation_text(p))}.",
        markup=True,
    )
    console.print(f"Scores: {report.scores_csv}\nQini chart: {report.chart_path}")
    _show_report(written)


@decide_app.command("price")
def price(
    competitors: Annotated[
        Path, typer.Option("--competitors", help="Competitor prices: one row per product × competitor.")
    ],
    product_col: Annotated[str, typer.Option("--product-col")] = "product_id",
    title_col: Annotated[
        str | None,
        typer.Option("--title-col", help="Listing titles instead of product ids: matched to the catalogue."),
    ] = None,
    brand_col: Annotated[
        str | None,
        typer.Option(
            "--brand-col",
            help="The listing's brand (with --title-col): only products of that brand can match; "
            "brands the catalogue does not sell are unmatched.",
        ),
    ] = None,
    competitor_col: Annotated[str, typer.Option("--competitor-col")] = "competitor",
    price_col: Annotated[
        str, typer.Option("--price-col", help="Price in major units (1299, ¥1,299.00).")
    ] = "price",
    date_col: Annotated[
        str | None,
        typer.Option("--date-col", help="Observation date: each competitor's latest price counts."),
    ] = None,
    currency_col: Annotated[
        str | None,
        typer.Option("--currency-col", help="Rows in another currency than the product are left out."),
    ] = None,
    band: Annotated[
        float, typer.Option("--band", help="±share of the median counted as 'at market'.")
    ] = 0.03,
    min_margin: Annotated[
        float, typer.Option("--min-margin", help="Margin over cost for the floor price.")
    ] = 0.1,
    report_md: ReportOption = False,
    lang: LangOption = "zh",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Where each catalogue price sits among competitors' prices (price index, position, floor)."""
    from marketpilot.analytics.decision_report import price_facts
    from marketpilot.analytics.pricing import CompetitorFile, price_report

    spec = options(
        CompetitorFile,
        path=competitors,
        product_col=product_col,
        title_col=title_col,
        brand_col=brand_col,
        competitor_col=competitor_col,
        price_col=price_col,
        date_col=date_col,
        currency_col=currency_col,
    )
    settings = settings_for(home)
    report = price_report(settings, spec, band=band, min_margin=min_margin)
    written = _write_report(settings, "price", price_facts(report, lang), lang, None) if report_md else None
    if json_out:
        print_json(report.model_dump(mode="json") | {"report": written})
        return
    s = report.summary
    console.print(
        f"{counted(s.products_compared, 'product')} compared (median price index {s.median_index}; 100 = the "
        f"competitors' median); {s.products_without_competitor_price:,} without a competitor price."
    )
    console.print(", ".join(f"{name}: {n:,}" for name, n in s.positions.items()))
    if s.median_below_floor:
        console.print(
            f"{counted(s.median_below_floor, 'product')}: the market median is below cost + {min_margin:.0%}."
        )
    if s.other_currency_rows:
        verb = "was" if s.other_currency_rows == 1 else "were"
        console.print(
            f"[yellow]{counted(s.other_currency_rows, 'row')} in another currency than the product[/] (by "
            f"--currency-col or the price's own mark, e.g. $) {verb} left out, not converted.",
            markup=True,
        )
    if s.unknown_product_ids:
        console.print(
            f"[yellow]Not in the catalogue:[/] {escape(', '.join(s.unknown_product_ids))}", markup=True
        )
    if s.titles:
        console.print(
            f"Titles: {s.titles['matched']:,} matched, {s.titles['review']:,} to review, "
            f"{s.titles['unmatched']:,} unmatched (only matched ones count): {report.matches_csv}"
        )
    console.print(f"Products: {report.products_csv}\nCategories: {report.categories_csv}")
    _show_report(written)


@decide_app.command("budget")
def budget(
    history: Annotated[
        Path, typer.Option("--history", help="One row per channel × period: spend and outcome.")
    ],
    total: Annotated[float, typer.Option("--total", help="Budget for one period (the history's period).")],
    channel_col: Annotated[str, typer.Option("--channel-col")] = "channel",
    spend_col: Annotated[str, typer.Option("--spend-col")] = "spend",
    outcome_col: Annotated[
        str, typer.Option("--outcome-col", help="Revenue, orders or conversions.")
    ] = "revenue",
    period_col: Annotated[
        str | None,
        typer.Option(
            "--period-col",
            help="Period of each row (1, 2, …; a date; or a week: 2026-W02, 2026年第2周): fits carry-over.",
        ),
    ] = None,
    event_col: Annotated[
        str | None,
        typer.Option(
            "--event-col",
            help="Marks festival / sitewide-sale periods (1/0, 是/否, or the event's name, e.g. 双11): "
            "their extra sales are fitted apart from the return on spend.",
        ),
    ] = None,
    for_event: Annotated[
        bool, typer.Option("--for-event", help="Split for an event period instead of an ordinary one.")
    ] = False,
    minimum: Annotated[
        list[str] | None, typer.Option("--min", help="CHANNEL=AMOUNT minimum spend; repeatable.")
    ] = None,
    max_scale: Annotated[
        float, typer.Option("--max-scale", help="Cap per channel: this × the largest spend its history saw.")
    ] = 2.0,
    report_md: ReportOption = False,
    lang: LangOption = "zh",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Split a budget across channels by their fitted diminishing returns."""
    from marketpilot.analytics.budget import HistoryFile, plan_budget
    from marketpilot.analytics.decision_report import budget_facts

    spec = options(
        HistoryFile,
        path=history,
        channel_col=channel_col,
        spend_col=spend_col,
        outcome_col=outcome_col,
        period_col=period_col,
        event_col=event_col,
    )
    settings = settings_for(home)
    plan = plan_budget(
        spec,
        total,
        floors=_pairs(minimum, "--min"),
        max_scale=max_scale,
        for_event=for_event,
        settings=settings,
    )
    written = None
    if report_md:
        written = _write_report(settings, "budget", budget_facts(plan, lang), lang, plan.chart_path)
    if json_out:
        print_json(plan.model_dump(mode="json") | {"report": written})
        return
    a = plan.allocation
    period = " in an event period" if for_event else ""
    table = Table(title=f"Budget {a.total:,.2f}{period}: expected {outcome_col} {a.expected_outcome:,.2f}")
    columns = ["channel", "spend", "share", f"expected {outcome_col}", "marginal return", "curve R²"]
    columns += (["carry-over"] if period_col else []) + (["event uplift"] if event_col else [])
    for column in columns:
        table.add_column(column)
    fit = {c.channel: c for c in plan.curves}
    for c in a.channels:
        table.add_row(
            c.channel,
            f"{c.spend:,.2f}" + (" (cap)" if c.capped else ""),
            f"{c.share:.0%}",
            f"{c.expected_outcome:,.2f}",
            f"{c.marginal_return:.3f}",
            f"{fit[c.channel].r2:.2f}",
            *([f"{fit[c.channel].carryover:.0%}"] if period_col else []),
            *([f"{fit[c.channel].event_uplift:+.0%}"] if event_col else []),
        )
    print_table(table)
    console.print(
        f"Today's split would bring {a.current_split_outcome:,.2f}; "
        f"an equal split {a.equal_split_outcome:,.2f}."
    )
    if a.unallocated > 0:
        console.print(
            f"[yellow]{a.unallocated:,.2f} left unallocated:[/] every channel is at {max_scale:g}× the "
            "most it ever spent; the history says nothing about returns beyond that.",
            markup=True,
        )
    for channel in plan.weak_fits:
        console.print(
            f"[yellow]{escape(channel)}: its curve explains {max(fit[channel].r2, 0):.0%} of the outcome's "
            f"variation over {fit[channel].points} periods[/]; its spend shows little relation to the "
            "outcome, so its share rests on little evidence.",
            markup=True,
        )
    console.print(f"Split: {plan.table_csv}\nChart: {plan.chart_path}")
    _show_report(written)


@decide_app.command("promo")
def promo(
    by: Annotated[
        str,
        typer.Option("--by", help="One coupon per: segment (from `intel`), rfm_class, or all customers."),
    ] = "segment",
    months: Annotated[int, typer.Option("--months", help="Orders of the last N months count.")] = 12,
    window_days: Annotated[int, typer.Option("--window-days", help="How long the coupon is valid.")] = 14,
    min_depth: Annotated[
        float, typer.Option("--min-depth", help="Smallest coupon as a share of the threshold (0.08 = 8 %).")
    ] = 0.08,
    min_margin: Annotated[
        float, typer.Option("--min-margin", help="Gross margin that must remain at the threshold.")
    ] = 0.15,
    margin: Annotated[
        float | None,
        typer.Option("--margin", help="Gross margin rate to assume (default: from the catalogue's costs)."),
    ] = None,
    max_deadweight: Annotated[
        float,
        typer.Option("--max-deadweight", help="Most of today's orders that may reach the threshold anyway."),
    ] = 0.3,
    max_lift: Annotated[
        float,
        typer.Option("--max-lift", help="Break-even lift above which a coupon is implausible (1 = +100 %)."),
    ] = 1.0,
    report_md: ReportOption = False,
    lang: Annotated[
        str,
        typer.Option("--lang", help="Report and campaign copy language: zh or en.", callback=_language),
    ] = "zh",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Design a 满减 coupon per customer group: threshold, two depths, break-even lift and the test."""
    from marketpilot.analytics.decision_report import promo_facts
    from marketpilot.analytics.promo import PromoSpec, plan_promotions

    spec = options(
        PromoSpec,
        by=by,
        months=months,
        window_days=window_days,
        min_depth=min_depth,
        min_margin=min_margin,
        margin=margin,
        max_deadweight=max_deadweight,
        max_lift=max_lift,
        language=lang,
    )
    settings = settings_for(home)
    plan = plan_promotions(settings, spec)
    written = None
    if report_md:
        facts, names = promo_facts(plan, lang)
        written = _write_report(settings, "promo", facts, lang, plan.chart_path, names=names)
    if json_out:
        print_json(plan.model_dump(mode="json") | {"report": written})
        return
    table = Table(title=f"Coupons from orders {plan.since} – {plan.until} ({plan.margin_basis})")
    for column in (
        "group", "customers", "median basket", "coupon", "already reach", "in reach",
        "break-even lift", "per arm needed", "verdict",
    ):  # fmt: skip
        table.add_column(column)
    for g in plan.groups:
        arms = [a for a in (g.shallow, g.deep) if a]
        table.add_row(
            g.group,
            f"{g.customers:,}",
            f"{g.median_basket:,.2f}",
            " / ".join(a.label(g.threshold) for a in arms if g.threshold) or "—",
            f"{g.deadweight_share:.0%}" if g.deadweight_share is not None else "—",
            f"{g.reach_share:.0%}" if g.reach_share is not None else "—",
            " / ".join(f"{a.break_even_lift:+.0%}" for a in arms) or "—",
            " / ".join(f"{a.customers_per_arm:,}" if a.customers_per_arm else "—" for a in arms) or "—",
            g.verdict,
        )
    print_table(table)
    console.print(f"Coupons: {plan.table_csv}\nChart: {plan.chart_path}")
    if plan.campaign_specs:
        console.print("Campaign specs (review, then `marketpilot campaign create --spec FILE`):")
        for group, path in plan.campaign_specs.items():
            console.print(f"  {group}: {path}")
    _show_report(written)
