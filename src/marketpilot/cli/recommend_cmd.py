"""`marketpilot recommend …`: offline evaluation on any interactions file, and serving on the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.table import Table

from marketpilot.analytics.recommend.evaluate import DEFAULT_MODELS, EvaluationReport
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
from marketpilot.wording import counted

recommend_app = typer.Typer(
    help="Product recommendations (商品推荐): evaluate, fit, for, similar.", no_args_is_help=True
)
app.add_typer(recommend_app, name="recommend")

METRIC_COLUMNS = ("recall", "precision", "ndcg", "map", "hit_rate", "coverage", "novelty", "seconds")


@recommend_app.command("evaluate")
def evaluate_command(
    interactions: Annotated[Path, typer.Option(help="CSV (UTF-8/GBK, .gz ok) or Parquet of interactions.")],
    user_col: Annotated[str, typer.Option(help="Customer id column.")],
    item_col: Annotated[str, typer.Option(help="Product id column.")],
    time_col: Annotated[
        str, typer.Option(help="Time column: ISO date/datetime, 2024年3月5日 or Unix epoch seconds.")
    ],
    event_col: Annotated[str | None, typer.Option(help="Event type column (view/cart/buy …).")] = None,
    event_weights: Annotated[
        str | None, typer.Option(help="Weights per event type: pv=1,cart=3,buy=5.")
    ] = None,
    test_days: Annotated[float | None, typer.Option(help="Test window: the last N days.")] = None,
    test_fraction: Annotated[
        float | None, typer.Option(help="Test window: the last fraction F of interactions by time.")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Length of each recommendation list.")] = 20,
    exclude_seen: Annotated[
        bool, typer.Option("--exclude-seen", help="Only new products count as hits.")
    ] = False,
    models: Annotated[str, typer.Option(help="Comma-separated recommenders to compare.")] = ",".join(
        DEFAULT_MODELS
    ),
    text_col: Annotated[str | None, typer.Option(help="Product text column: adds the content model.")] = None,
    quantity_col: Annotated[
        str | None,
        typer.Option(
            help="Quantity column: only rows with quantity > 0 count (drops cancellations, returns)."
        ),
    ] = None,
    item_pattern: Annotated[
        str | None,
        typer.Option(
            help="Regex an item id must contain to be a product, e.g. '[0-9]{2}' (drops POST, C2, DOT …)."
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Compare every recommender on a leakage-free time split (Recall/Precision/NDCG/MAP@K, …)."""
    from marketpilot.analytics.recommend.evaluate import evaluate
    from marketpilot.analytics.recommend.interactions import ITEM, parse_event_weights, read_interactions

    weights = parse_event_weights(event_weights) if event_weights else None
    if test_days is None and test_fraction is None:
        test_fraction = 0.2
    frame = read_interactions(
        interactions,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        event_col=event_col,
        event_weights=weights,
        extra_cols=(text_col,) if text_col else (),
        quantity_col=quantity_col,
        item_pattern=item_pattern,
    )
    names = [m.strip() for m in models.split(",") if m.strip()]
    items = None
    if text_col:
        items = frame.groupby(ITEM, sort=False)[text_col].first().rename("name").reset_index()
        names = [*names, "content"] if "content" not in names else names
    with err_console.status("Evaluating…") as status:
        report = evaluate(
            frame,
            k=k,
            test_days=test_days,
            test_fraction=test_fraction,
            exclude_seen=exclude_seen,
            models=names,
            items=items,
            on_model=lambda name: status.update(f"Tuning and fitting {name}…"),
        )
    if json_out:
        print_json(report.as_json())  # the documented shape; the notes go to stderr
        for note in report.notes:
            err_console.print(f"Note: {note}")
        return
    print_table(report_table(report))


# Headers short enough that the table fits an 80-column terminal (the JSON keeps the full names).
METRIC_HEADERS = {
    "recall": "recall",
    "precision": "prec",
    "ndcg": "ndcg",
    "map": "map",
    "hit_rate": "hit",
    "coverage": "cover",
    "novelty": "novel",
    "seconds": "sec",
}


def report_table(report: EvaluationReport) -> Table:
    """Metrics per model, each cell whole on an 80-column terminal; the tuned parameters are listed
    under the table, where they may wrap."""
    split = report.split
    params = [f"{model}: {_compact(m['params'])}" for model, m in report.models.items() if m.get("params")]
    table = Table(
        title=f"Recommenders @ {report.k} — test from {split.cutoff}",
        caption="\n".join(
            [
                f"{counted(split.evaluated_customers, 'customer')} evaluated "
                f"({split.cold_customers:,} without history left out); "
                f"train {counted(split.train_rows, 'row')}, test {counted(split.test_rows, 'row')}. "
                f"Best: {report.best}",
                *params,
                *(f"Note: {note}" for note in report.notes),
            ]
        ),
        box=box.SIMPLE_HEAD,
        caption_justify="left",
    )
    table.add_column("model", no_wrap=True, min_width=max(len(m) for m in report.models))
    for name in METRIC_COLUMNS:
        table.add_column(METRIC_HEADERS[name], justify="right", no_wrap=True, min_width=5)
    for model, metrics in report.models.items():
        style = "bold green" if model == report.best else None
        cells = [
            f"{metrics.get(m, 0):.3f}" if m != "seconds" else f"{metrics.get(m, 0):.1f}"
            for m in METRIC_COLUMNS
        ]
        table.add_row(model, *cells, style=style)
    return table


def _compact(params: dict) -> str:
    return " ".join(f"{k}={_compact(v) if isinstance(v, dict) else v}" for k, v in params.items())


@recommend_app.command("fit")
def fit_command(
    k: Annotated[int, typer.Option(min=1, help="Products per customer.")] = 20,
    exclude_purchased: Annotated[
        bool, typer.Option("--exclude-purchased", help="Never re-recommend a bought product.")
    ] = False,
    in_stock: Annotated[
        bool | None,
        typer.Option(
            "--in-stock/--no-in-stock",
            help="Only products with stock > 0 (default: on when the products table records stock).",
        ),
    ] = None,
    min_price: Annotated[
        float | None, typer.Option(help="Lowest price, in the catalogue's currency (e.g. 49.9).")
    ] = None,
    max_price: Annotated[
        float | None, typer.Option(help="Highest price, in the catalogue's currency.")
    ] = None,
    max_per_category: Annotated[
        int | None, typer.Option(help="Diversity: at most N products per category in each list.")
    ] = None,
    min_margin: Annotated[
        float | None, typer.Option(help="Margin floor, (price - cost) / price, e.g. 0.3.")
    ] = None,
    allow_category: Annotated[
        list[str] | None, typer.Option(help="Only this category (repeat for several).")
    ] = None,
    deny_category: Annotated[list[str] | None, typer.Option(help="Never this category (repeatable).")] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Fit on the store and precompute top-K for every customer, with reasons, into Parquet."""
    from marketpilot.analytics.recommend.serving import recommend_for_all, store_rules

    settings = settings_for(home)
    rules = store_rules(
        settings,
        in_stock=in_stock,
        min_price=min_price,
        max_price=max_price,
        max_per_category=max_per_category,
        min_margin=min_margin,
        allow_categories=allow_category,
        deny_categories=deny_category or (),
    )
    with err_console.status("Fitting recommenders…"):
        path = recommend_for_all(settings, k, exclude_purchased=exclude_purchased, rules=rules)
    table = pd.read_parquet(path, columns=["customer_id", "reason"])
    summary = {
        "path": str(path),
        "customers": int(table["customer_id"].nunique()),
        "rows": len(table),
        "reasons": table["reason"].value_counts().to_dict(),
        "rules": rules.model_dump(mode="json", exclude_defaults=True),
    }
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"Wrote {counted(summary['rows'], 'recommendation')} for "
            f"{counted(summary['customers'], 'customer')} to {path}"
        )
        if summary["rules"]:
            console.print("Rules: " + ", ".join(f"{k}={v}" for k, v in summary["rules"].items()))


def _print_rows(frame: pd.DataFrame, json_out: bool, title: str, language: str) -> None:
    if json_out:
        print_json(frame.to_dict(orient="records"))
        return
    table = Table(title=title)
    columns = [c for c in ("rank", "product_id", "name", "score", f"reason_{language}") if c in frame.columns]
    for col in columns:
        table.add_column(col)
    for row in frame[columns].itertuples(index=False):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    print_table(table)


@recommend_app.command("for")
def for_command(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    k: Annotated[int, typer.Option(min=1, help="How many products.")] = 10,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one customer's recommendations and why (from the last `recommend fit`)."""
    from marketpilot.analytics.recommend.serving import recommendations_for

    settings = settings_for(home)
    rows = recommendations_for(settings, customer, k)
    if not rows.empty and not rows["known_customer"].iloc[0]:
        err_console.print(
            f"Note: customer {customer!r} is in neither the last `recommend fit` nor the store: showing the "
            "shop's popular list, as for a visitor not yet synced. Check the id if that is a typo.",
            markup=False,
            highlight=False,
        )
    _print_rows(rows, json_out, f"For {customer}", settings.language)


@recommend_app.command("similar")
def similar_command(
    item: Annotated[str, typer.Argument(help="Product id.")],
    k: Annotated[int, typer.Option(min=1, help="How many products.")] = 10,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Products similar to ITEM (co-purchase and, for new products, description)."""
    from marketpilot.analytics.recommend.serving import similar_products

    settings = settings_for(home)
    _print_rows(similar_products(settings, item, k), json_out, f"Similar to {item}", settings.language)
