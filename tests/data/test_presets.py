"""The Online Retail and CDNOW presets on the bundled real files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.load import load_file
from marketpilot.errors import ValidationFailed


def test_online_retail_slice_fills_four_tables_consistently(settings: Settings, retail_slice: Path) -> None:
    raw = pd.read_csv(retail_slice, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    report = load_file(settings, retail_slice, preset="online-retail")
    assert report.rows_loaded + report.rows_rejected == len(raw)
    with Store.open(settings) as store:
        items = store.read("order_items")
        orders = store.read("orders").set_index("order_id")
        customers = store.read("customers").set_index("customer_id")
    kept = raw[~((raw.UnitPrice == 0) & raw.CustomerID.isna() & ~raw.InvoiceNo.str.startswith("C"))]
    kept = kept[~kept.InvoiceNo.str.startswith("A") & (kept.UnitPrice >= 0)]
    assert len(items) == len(kept) == report.tables["order_items"]
    # Money is exact in pence (16.13 * 100 is 1612.999… in floating point).
    expected_pence = (kept.UnitPrice.astype(str).map(lambda s: round(float(s) * 100))).sum()
    assert items.unit_price_minor.sum() == expected_pence
    assert set(items.currency) == {"GBP"}
    # Order totals are the sum of their lines; cancellations are negative.
    line_totals = (items.quantity * items.unit_price_minor).groupby(items.order_id).sum()
    pd.testing.assert_series_equal(
        orders.total_minor.sort_index(), line_totals.sort_index(), check_names=False
    )
    cancelled = orders[orders.index.str.startswith("C")]
    assert (
        len(cancelled) > 0 and (cancelled.status == "cancelled").all() and (cancelled.total_minor < 0).all()
    )
    # Guests are kept, one per invoice, never dropped.
    guests = customers[customers.is_guest.astype(bool)]
    guest_invoices = kept[kept.CustomerID.isna()].InvoiceNo.unique()
    assert sorted(guests.index) == sorted(f"guest:{i}" for i in guest_invoices)
    assert any("guest orders" in w for w in report.warnings)
    members = customers[~customers.is_guest.astype(bool)].index
    assert set(members) == set(kept.CustomerID.dropna().str.removesuffix(".0"))


def test_reloading_is_idempotent(settings: Settings, retail_slice: Path, store_snapshot) -> None:
    first = load_file(settings, retail_slice, preset="online-retail")
    before = store_snapshot(settings)
    second = load_file(settings, retail_slice, preset="online-retail")
    assert store_snapshot(settings) == before
    assert first.tables == second.tables


def test_preset_can_load_a_single_table(settings: Settings, retail_slice: Path) -> None:
    report = load_file(settings, retail_slice, "products", preset="online-retail")
    with Store.open(settings) as store:
        counts = store.counts()
    assert report.table == "products" and counts["products"] > 0 and counts["orders"] == 0


def test_cdnow_sample_keeps_every_purchase_in_dollars(settings: Settings, data_dir: Path) -> None:
    path = data_dir / "cdnow" / "CDNOW_sample.txt"
    raw = pd.read_csv(
        path, sep=r"\s+", header=None, names=["master", "cust", "date", "cds", "dollars"], dtype=str
    )
    report = load_file(settings, path, preset="cdnow")
    assert report.rows_loaded == len(raw) == 6919 and report.rows_rejected == 0
    with Store.open(settings) as store:
        orders = store.read("orders")
        customers = store.read("customers")
        items = store.read("order_items")
    assert len(customers) == raw.master.nunique() == 2357
    assert orders.total_minor.sum() == raw.dollars.map(lambda s: round(float(s) * 100)).sum()
    assert items.quantity.sum() == raw.cds.astype(int).sum()
    assert orders.ordered_at.min() == pd.Timestamp("1997-01-01") and set(orders.currency) == {"USD"}


def test_cdnow_reload_is_idempotent(settings: Settings, data_dir: Path, store_snapshot) -> None:
    path = data_dir / "cdnow" / "CDNOW_sample.txt"
    first = load_file(settings, path, preset="cdnow")
    before = store_snapshot(settings)
    second = load_file(settings, path, preset="cdnow")
    assert store_snapshot(settings) == before and first.tables == second.tables
    with Store.open(settings) as store:
        ids = store.read("customers").customer_id
    assert ids.str.fullmatch(r"\d+").all()  # panel ids are opaque: kept as written, not pseudonymised


@pytest.mark.slow
def test_full_online_retail_file_loads_in_seconds_via_the_demo(settings: Settings) -> None:
    """The whole 541,909-line export, through the demo's first step (it loads it into its own store under
    home and summarises)."""
    from marketpilot.config import get_settings
    from marketpilot.demo import RETAIL_HOME, load_online_retail, run_demo

    result = run_demo(settings, steps=[load_online_retail])
    (load,) = result.steps
    assert load.seconds < 30
    with Store.open(get_settings(result.home / RETAIL_HOME)) as store:
        counts = store.counts()
        members = store.query("SELECT count(*) AS n FROM customers WHERE NOT is_guest").n[0]
        cancelled = store.query("SELECT count(*) AS n FROM order_items WHERE order_id LIKE 'C%'").n[0]
        guest_lines = store.query(
            "SELECT count(*) AS n FROM order_items i JOIN orders o USING (order_id) "
            "WHERE o.customer_id LIKE 'guest:%'"
        ).n[0]
    # Figures from data/samples/README.md: 4,372 customers, 9,288 cancellation lines,
    # 135,080 lines without CustomerID of which 2,475 stock corrections and 3 bad-debt lines are rejected.
    assert members == 4372 and cancelled == 9288
    assert counts["order_items"] == 541_909 - 2_478
    assert guest_lines == 135_080 - 2_478
    out = result.home / "demo" / "online-retail"
    summary = (out / "summary.json").read_text(encoding="utf-8")
    assert '"customers": 4372' in summary and (out / "summary_by_month.csv").is_file()
    (gbp,) = json.loads(summary)["revenue"]
    # revenue is net of the 'C…' cancellation invoices, which are also shown on their own
    assert gbp["cancelled"] > 0 and gbp["returned"] == 0
    assert gbp["revenue"] == pytest.approx(gbp["gross"] - gbp["cancelled"], abs=0.01)


@pytest.mark.parametrize("suffix", ["parquet", "xlsx"])
def test_online_retail_preset_reads_parquet_and_excel_like_csv(
    tmp_path: Path, retail_slice: Path, suffix: str, store_snapshot
) -> None:
    from marketpilot.config import get_settings

    frame = pd.read_csv(retail_slice, dtype=str, nrows=300)
    csv_path, other = tmp_path / "slice.csv", tmp_path / f"slice.{suffix}"
    frame.to_csv(csv_path, index=False)
    if suffix == "parquet":
        # Typed columns, as a Parquet export would have them (ids numeric, dates as timestamps).
        typed = frame.assign(
            Quantity=frame.Quantity.astype(int),
            UnitPrice=frame.UnitPrice.astype(float),
            CustomerID=frame.CustomerID.astype(float),
            InvoiceDate=pd.to_datetime(frame.InvoiceDate),
        )
        typed.to_parquet(other)
    else:
        frame.to_excel(other, index=False)
    from_csv, from_other = get_settings(tmp_path / "a"), get_settings(tmp_path / "b")
    load_file(from_csv, csv_path, preset="online-retail")
    load_file(from_other, other, preset="online-retail")
    assert store_snapshot(from_other) == store_snapshot(from_csv)


def test_online_retail_ii_column_names_load_the_same(
    tmp_path: Path, retail_slice: Path, store_snapshot
) -> None:
    """UCI Online Retail II (2009–2011) names three columns Invoice, Price and Customer ID, and its
    customer ids are written 13085.0: the preset loads it as the first export."""
    from marketpilot.config import get_settings

    frame = pd.read_csv(retail_slice, dtype=str, nrows=300)
    first, second = tmp_path / "online_retail.csv", tmp_path / "online_retail_II.csv"
    frame.to_csv(first, index=False)
    renamed = frame.rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    renamed.assign(
        **{"Customer ID": renamed["Customer ID"].map(lambda v: v if pd.isna(v) else f"{v}.0")}
    ).to_csv(second, index=False)
    a, b = get_settings(tmp_path / "a"), get_settings(tmp_path / "b")
    load_file(a, first, preset="online-retail")
    load_file(b, second, preset="online-retail")
    assert store_snapshot(b) == store_snapshot(a)
    renamed.drop(columns=["Price"]).to_csv(second, index=False)
    with pytest.raises(ValidationFailed, match="column 'UnitPrice' is missing"):
        load_file(b, second, preset="online-retail")
