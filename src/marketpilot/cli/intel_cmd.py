"""Customer-intelligence commands: rfm, clv fit|predict, segment, propensity train|score.

Each command parses options and calls one library function (the same one the tests call)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from marketpilot.cli.app import (
    HomeOption,
    JsonOption,
    app,
    console,
    err_console,
    print_json,
    print_table,
    settings_for,
)
from marketpilot.errors import UserError
from marketpilot.wording import counted

clv_app = typer.Typer(help="Customer lifetime value: BG/NBD + Gamma-Gamma.", no_args_is_help=True)
app.add_typer(clv_app, name="clv")

DateOption = Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the last order day.")]
# Propensity's as-of is a cutoff: features from before it, so the default is the day after the last order.
CutoffOption = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="YYYY-MM-DD: orders before this day count; default: the day after the last order."
    ),
]


def _date(value: str | None, flag: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{flag} must be a date like 2024-06-30, got {value!r}.") from None


def _file_source(
    transactions: Path | None,
    customer_col: str | None,
    date_col: str | None,
    value_col: str | None,
    date_format: str | None,
) -> object:
    from marketpilot.analytics.clv import FileSource

    if transactions is None:
        return None
    if not customer_col or not date_col:
        raise UserError("--transactions needs --customer-col and --date-col.")
    return FileSource(
        path=transactions,
        customer_col=customer_col,
        date_col=date_col,
        value_col=value_col,
        date_format=date_format,
    )


TransactionsOption = Annotated[
    Path | None,
    typer.Option("--transactions", help="Transaction file (CSV/TSV/Parquet, gzip ok); default: the store."),
]
CustomerCol = Annotated[str | None, typer.Option("--customer-col", help="Customer id column.")]
DateCol = Annotated[str | None, typer.Option("--date-col", help="Transaction date column.")]
ValueCol = Annotated[
    str | None, typer.Option("--value-col", help="Transaction value column (enables spend).")
]
DateFormat = Annotated[str | None, typer.Option("--date-format", help="strptime format, e.g. %Y%m%d.")]
TimeUnitOption = Annotated[str, typer.Option("--time-unit", help="D (days) or W (weeks).")]


@clv_app.command("fit")
def clv_fit(
    calibration_end: Annotated[
        str, typer.Option("--calibration-end", help="Last day of the calibration period.")
    ],
    transactions: TransactionsOption = None,
    customer_col: CustomerCol = None,
    date_col: DateCol = None,
    value_col: ValueCol = None,
    date_format: DateFormat = None,
    time_unit: TimeUnitOption = "W",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Fit BG/NBD (+ Gamma-Gamma) on a calibration period; report holdout accuracy when data run past it."""
    from marketpilot.analytics.clv import fit_clv

    settings = settings_for(home)
    source = _file_source(transactions, customer_col, date_col, value_col, date_format) or settings
    end = _date(calibration_end, "--calibration-end")
    result = fit_clv(source, calibration_end=end, time_unit=time_unit.upper())  # type: ignore[arg-type]
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    b = result.bgnbd
    console.print(f"Customers: {result.customers}")
    console.print(f"Purchases: {result.purchase_rules.describe()}")
    console.print(
        f"BG/NBD  r={b.r:.4f} α={b.alpha:.4f} a={b.a:.4f} b={b.b:.4f}  log-likelihood {b.loglik:.2f}"
    )
    if result.gamma_gamma:
        g = result.gamma_gamma
        console.print(f"Gamma-Gamma  p={g.p:.4f} q={g.q:.4f} γ={g.v:.4f}")
    if result.holdout:
        h = result.holdout
        console.print(
            f"Holdout: MAE {h.mae:.3f} purchases/customer; "
            f"predicted {h.predicted_total:.0f} vs actual {h.actual_total:.0f}"
        )
    _print_warnings(result.warnings)


def _print_warnings(notes: list[str]) -> None:
    for note in notes:
        err_console.print(f"[yellow]warning:[/] {escape(note)}", markup=True, highlight=False)


@clv_app.command("predict")
def clv_predict(
    transactions: TransactionsOption = None,
    customer_col: CustomerCol = None,
    date_col: DateCol = None,
    value_col: ValueCol = None,
    date_format: DateFormat = None,
    as_of: DateOption = None,
    horizon_days: Annotated[int, typer.Option(min=1, help="CLV horizon in days.")] = 365,
    discount_rate: Annotated[float, typer.Option(help="Annual discount rate.")] = 0.10,
    time_unit: TimeUnitOption = "W",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Score every customer: P(alive), expected purchases and discounted CLV over a horizon."""
    from marketpilot.analytics.clv import predict_clv

    settings = settings_for(home)
    source = _file_source(transactions, customer_col, date_col, value_col, date_format)
    result, _ = predict_clv(
        settings,
        source,  # type: ignore[arg-type]
        as_of=_date(as_of, "--as-of"),
        horizon_days=horizon_days,
        annual_discount_rate=discount_rate,
        time_unit=time_unit.upper(),  # type: ignore[arg-type]
    )
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    # money as the purchase counts write it: "CNY 1,234" (a file's rows may name no currency)
    currency = result.purchase_rules.money_currency
    console.print(
        f"Scored {counted(result.customers, 'customer')} as of {result.as_of}: "
        f"mean P(alive) {result.mean_p_alive:.2f}, "
        f"{result.expected_purchases_total:.0f} purchases expected in {result.horizon_days} days"
        + (
            f", CLV total {currency + ' ' if currency else ''}{result.clv_total:,.0f}"
            if result.clv_total is not None
            else ""
        )
    )
    console.print(f"Purchases: {result.purchase_rules.describe()}")
    console.print(f"Written: {result.parquet} and {result.csv}")
    _print_warnings(result.warnings)


@app.command("rfm")
def rfm_command(as_of: DateOption = None, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """RFM scores and the eight classic classes (重要价值客户 …) for every customer in the store."""
    from marketpilot.analytics.rfm import run_rfm

    summary, _ = run_rfm(settings_for(home), as_of=_date(as_of, "--as-of"))
    if json_out:
        print_json(summary.model_dump(mode="json"))
        return
    from rich.table import Table

    table = Table(title=f"RFM as of {summary.as_of}: {counted(summary.customers, 'customer')}")
    for column in ("Class", "类别", "Customers", "Share", "Revenue share"):
        table.add_column(column)
    for c in summary.classes:
        table.add_row(c.name_en, c.name_zh, str(c.customers), f"{c.share:.1%}", f"{c.revenue_share:.1%}")
    print_table(table)
    console.print(f"Purchases: {summary.purchase_rules.describe()}")
    console.print(f"Written: {summary.parquet} and {summary.csv}")


propensity_app = typer.Typer(
    help="Purchase propensity and churn models (LightGBM, calibrated).", no_args_is_help=True
)
app.add_typer(propensity_app, name="propensity")
TargetOption = Annotated[str, typer.Option("--target", help="purchase (buys in the next N days) or churn.")]
HorizonOption = Annotated[
    int | None, typer.Option("--horizon-days", help="Outcome window; default 30 for purchase, 90 for churn.")
]


def _target(value: str) -> str:
    if value not in ("purchase", "churn"):
        raise UserError(f"--target must be purchase or churn, got {value!r}.")
    return value


@propensity_app.command("train")
def propensity_train(
    target: TargetOption = "purchase",
    horizon_days: HorizonOption = None,
    as_of: CutoffOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Train on a time split of the store, report held-out AUC / PR-AUC / lift, save a new version."""
    from marketpilot.analytics.propensity import train_propensity

    target = _target(target)
    horizon = horizon_days or (30 if target == "purchase" else 90)
    report = train_propensity(
        settings_for(home),
        target=target,
        horizon_days=horizon,
        as_of=_date(as_of, "--as-of"),  # type: ignore[arg-type]
    )
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    t = report.test
    console.print(
        f"{report.target} in {report.horizon_days} days, model {report.version}: held-out AUC {t.auc:.3f} "
        f"(RFM logistic baseline {report.baseline_rfm_logistic_auc:.3f}), PR-AUC {t.pr_auc:.3f}, "
        f"base rate {t.base_rate:.1%}, {counted(t.customers, 'customer')}"
    )
    from rich.table import Table

    table = Table(title="Lift by decile (1 = highest scores)")
    for column in ("Decile", "Customers", "Rate", "Lift", "Cumulative capture"):
        table.add_column(column)
    for row in t.lift:
        table.add_row(
            str(row.decile),
            str(row.customers),
            f"{row.rate:.1%}",
            f"{row.lift:.2f}",
            f"{row.cumulative_capture:.1%}",
        )
    print_table(table)
    console.print(f"Saved: {report.model_path}")
    _print_warnings(report.warnings)


@propensity_app.command("score")
def propensity_score(
    target: TargetOption = "purchase",
    version: Annotated[str | None, typer.Option(help="Model version, e.g. v3; default: the latest.")] = None,
    as_of: CutoffOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Score every customer with a saved model; writes <home>/intel/propensity_<target>.parquet/.csv."""
    from marketpilot.analytics.propensity import score_propensity

    summary, _ = score_propensity(
        settings_for(home),
        target=_target(target),
        version=version,
        as_of=_date(as_of, "--as-of"),  # type: ignore[arg-type]
    )
    if json_out:
        print_json(summary.model_dump(mode="json"))
        return
    console.print(
        f"Scored {counted(summary.customers, 'customer')} with {summary.target} model {summary.version} "
        f"as of {summary.as_of}: "
        f"mean probability {summary.mean_probability:.1%}. Written: {summary.parquet}"
    )
    _print_warnings(summary.warnings)


@app.command("segment")
def segment_command(
    k: Annotated[
        str,
        typer.Option(
            "--k",
            help="Number of segments, or 'auto': the best silhouette for k = 2..8 among the k whose "
            "segments all reach the minimum size and that beat a structureless reference shop; "
            "1 segment when none does. The output says why.",
        ),
    ] = "auto",
    lang: Annotated[str | None, typer.Option("--lang", help="Persona language: zh or en.")] = None,
    method: Annotated[str, typer.Option("--method", help="kmeans or hdbscan.")] = "kmeans",
    text: Annotated[
        bool,
        typer.Option("--text/--no-text", help="Add embeddings of purchased products and own reviews."),
    ] = False,
    personas: Annotated[
        bool, typer.Option("--personas/--no-personas", help="LLM personas (else templates).")
    ] = True,
    min_segment_share: Annotated[
        float,
        typer.Option(
            "--min-segment-share",
            help="Each segment should hold at least this share of customers: --k auto rules out a k "
            "that leaves a smaller one; with a fixed --k or HDBSCAN a smaller segment is named in a warning.",
        ),
    ] = 0.05,
    min_segment_customers: Annotated[
        int,
        typer.Option("--min-segment-customers", help="And at least this many customers."),
    ] = 10,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Cluster customers, describe each segment with stats and a grounded persona, write an HTML report."""
    from marketpilot.analytics.segments.service import run_segmentation

    if k != "auto" and not (k.isdigit() and int(k) >= 2):
        raise UserError(f"--k must be 'auto' or an integer >= 2, got {k!r}.")
    if lang not in (None, "zh", "en"):
        raise UserError(f"--lang must be zh or en, got {lang!r}.")
    if method not in ("kmeans", "hdbscan"):
        raise UserError(f"--method must be kmeans or hdbscan, got {method!r}.")
    if method == "hdbscan" and k != "auto":  # it would be ignored: HDBSCAN finds its own number
        raise UserError(
            "--k sets the number of k-means segments; HDBSCAN finds its own number.",
            hint="drop --k, or use --method kmeans",
        )
    result = run_segmentation(
        settings_for(home),
        k="auto" if k == "auto" else int(k),
        lang=lang,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        text=text,
        personas=personas,
        min_segment_share=min_segment_share,
        min_segment_customers=min_segment_customers,
    )
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    console.print(
        f"{counted(result.customers, 'customer')} in {counted(result.k, 'segment')} (as of {result.as_of})."
    )
    if result.k_choice:
        why = result.k_choice.explain(result.segments[0].persona.language)
        console.print(why[0], highlight=False)
        for line in why[1:]:
            console.print(f"   {line}", highlight=False)
    small = result.small_segments
    if small:
        warning = small.explain(result.segments[0].persona.language)
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", markup=True, highlight=False)
    _print_warnings(result.warnings)
    for profile in result.segments:
        s, p = profile.stats, profile.persona
        flag = " [dim](template)[/]" if p.source == "template" else ""
        if small and s.segment in small.sizes:
            flag += " [yellow](under the minimum size)[/]"
        console.print(
            f"[bold]{s.segment}. {escape(p.name)}[/]{flag} — {counted(s.customers, 'customer')}, "
            f"{s.revenue_share:.1%} of revenue",
            markup=True,
        )
        console.print(f"   {p.description}", highlight=False)
    console.print(f"Report: {result.report_html}\nAssignments: {result.assignments_parquet}")
