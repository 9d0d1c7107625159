"""RFM over a store holding the real Online Retail export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from marketpilot.analytics.rfm import RFM_CLASSES, run_rfm
from marketpilot.config import Settings, get_settings
from marketpilot.errors import UserError


def test_rfm_matches_an_independent_pandas_computation(
    online_retail_settings: Settings, online_retail_sales: pd.DataFrame
) -> None:
    summary, table = run_rfm(online_retail_settings)
    assert summary.as_of == dt.date(2011, 12, 9)
    sales = online_retail_sales[~online_retail_sales["undone"]].copy()
    sales["day"] = sales["at"].dt.normalize()
    expected = sales.groupby("customer").agg(
        last=("day", "max"), frequency=("day", "size"), monetary=("net", "sum")
    )
    expected.index = expected.index.astype(int).astype(str)
    got = table.set_index("customer_id").loc[expected.index]
    # 4,338 identified buyers when returns were ignored; 14 of them returned everything they bought
    # (12346 bought and returned £77,183.60 of jars on one day) and one has only a sale worth £0.
    assert len(table) == len(expected) == 4325
    assert (got["frequency"] == expected["frequency"]).all()
    assert (got["recency_days"] == (pd.Timestamp("2011-12-09") - expected["last"]).dt.days).all()
    assert got["monetary"].to_numpy() == pytest.approx(expected["monetary"].to_numpy(), abs=0.01)
    assert "12346" not in set(table["customer_id"])
    rules = summary.purchase_rules
    assert (rules.returns, rules.wholly_returned, rules.zero_value) == (3654, 194, 4)
    assert rules.purchases == len(sales) == int(table["frequency"].sum())


def test_scores_are_quantiles_that_respect_ties_and_order(online_retail_settings: Settings) -> None:
    _, table = run_rfm(online_retail_settings)
    for score in ("r_score", "f_score", "m_score"):
        assert set(table[score]) == {1, 2, 3, 4, 5}
    # Equal frequency means equal score; more orders never means a lower score.
    assert (table.groupby("frequency")["f_score"].nunique() == 1).all()
    by_f = table.groupby("frequency")["f_score"].first().sort_index()
    assert by_f.is_monotonic_increasing
    by_r = table.groupby("recency_days")["r_score"].first().sort_index()
    assert by_r.is_monotonic_decreasing
    m_sorted = table.sort_values("monetary")["m_score"]
    assert m_sorted.is_monotonic_increasing
    # The top monetary quintile holds about a fifth of the customers.
    assert (table["m_score"] == 5).mean() == pytest.approx(0.2, abs=0.01)


def test_classes_follow_the_above_average_rule(online_retail_settings: Settings) -> None:
    summary, table = run_rfm(online_retail_settings)
    names = {key: (zh, en) for key, zh, en in RFM_CLASSES.values()}
    high = table[["r_score", "f_score", "m_score"]] > table[["r_score", "f_score", "m_score"]].mean()
    expected = [RFM_CLASSES[tuple(row)][0] for row in high.itertuples(index=False)]
    assert table["rfm_class"].tolist() == expected
    assert all(
        names[k] == (zh, en)
        for k, zh, en in table[["rfm_class", "class_zh", "class_en"]]
        .drop_duplicates()
        .itertuples(index=False)
    )
    assert sum(c.customers for c in summary.classes) == summary.customers
    assert sum(c.revenue_share for c in summary.classes) == pytest.approx(1.0)
    top = next(c for c in summary.classes if c.key == "important_value")
    assert (
        top.name_zh == "重要价值客户" and top.revenue_share > top.share
    )  # the valuable class earns more than its size
    written = duckdb.sql(f"SELECT count(*) FROM read_parquet('{summary.parquet}')").fetchall()[0][0]
    assert written == summary.customers
    assert Path(summary.csv).read_text(encoding="utf-8-sig").splitlines()[0].startswith("customer_id,")


def test_as_of_ignores_later_orders(online_retail_settings: Settings) -> None:
    summary, table = run_rfm(online_retail_settings, as_of=dt.date(2011, 6, 30))
    assert summary.as_of == dt.date(2011, 6, 30)
    assert table["recency_days"].min() == 0 and len(table) < 4325


def test_rfm_cli_json_and_empty_store(online_retail_settings: Settings, home: Path) -> None:
    from marketpilot.cli import app

    out = CliRunner().invoke(app, ["rfm", "--home", str(online_retail_settings.home), "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["customers"] == 4325 and len(payload["classes"]) == 8
    assert payload["purchase_rules"]["wholly_returned"] == 194  # the counts a user sees with the scores
    with pytest.raises(UserError, match="No completed orders"):
        run_rfm(get_settings(home))
