"""Campaign revenue in the shop's currency: orders tracked as people write them (`track ingest`) come
back from `campaign report` in the same major units, whatever the currency's minor unit (none for
JPY, 1/100 for CNY, 1/1000 for KWD)."""

import json
from pathlib import Path

import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from sqlalchemy import select
from typer.testing import CliRunner

from marketpilot.campaigns.state.models import Assignment, TrackingEvent
from marketpilot.cli import app
from marketpilot.config import Settings, get_settings


@pytest.mark.parametrize(
    ("currency", "written", "minor", "major"),
    [
        ("JPY", ["¥1,200", "3500"], [1200, 3500], [1200.0, 3500.0]),
        ("CNY", ["¥12.50", "1,299.00"], [1250, 129900], [12.5, 1299.0]),
        ("KWD", ["1.250", "20"], [1250, 20000], [1.25, 20.0]),
    ],
)
def test_tracked_revenue_is_reported_in_the_shops_major_units(
    shop_settings: Settings,
    engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    currency: str,
    written: list[str],
    minor: list[int],
    major: list[float],
) -> None:
    monkeypatch.setenv("MARKETPILOT_CURRENCY", currency)
    settings = get_settings(shop_settings.home_dir)
    cid, _ = launch(settings, export_spec(audience={}, holdout_share=0.2))
    with engine.connect() as con:
        rows = con.execute(
            select(Assignment.customer_id, Assignment.arm).where(Assignment.campaign_id == cid)
        ).all()
    arms = pd.DataFrame(rows, columns=["customer_id", "arm"]).sort_values("customer_id")
    buyer = arms.loc[arms["arm"] == "A", "customer_id"].iloc[0]
    held = arms.loc[arms["arm"] == "holdout", "customer_id"].iloc[0]
    orders = tmp_path / "orders.csv"
    pd.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "kind": "conversion",
            "customer_id": [buyer, held],
            "occurred_at": "2026-02-02T10:00:00+08:00",
            "revenue": written,
            "currency": currency.lower(),
        }
    ).to_csv(orders, index=False)
    runner = CliRunner()
    home = ["--home", str(settings.home_dir)]
    ingested = runner.invoke(app, ["track", "ingest", str(orders), *home, "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["attributed"] == 2
    with engine.connect() as con:
        stored = dict(con.execute(select(TrackingEvent.customer_id, TrackingEvent.revenue_minor)).all())
    assert [stored[buyer], stored[held]] == minor

    out = runner.invoke(app, ["campaign", "report", cid, "--no-llm", *home, "--json"])
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout)["metrics"]
    assert metrics["currency"] == currency
    revenue = {a["arm"]: a["revenue"] for a in metrics["arms"]}
    assert revenue["A"] == pytest.approx(major[0]) and revenue["holdout"] == pytest.approx(major[1])
    assert metrics["overall"]["revenue"] == pytest.approx(sum(major))
    treated = sum(a["customers"] for a in metrics["arms"] if a["arm"] != "holdout")
    holdout = next(a["customers"] for a in metrics["arms"] if a["arm"] == "holdout")
    per_customer = major[0] / treated - major[1] / holdout
    assert metrics["lift"]["revenue_per_customer_diff"] == pytest.approx(per_customer)
    page = Path(json.loads(out.stdout)["report"]).read_text(encoding="utf-8")
    digits = {"JPY": 0, "CNY": 2, "KWD": 3}[currency]
    assert f"收入 ({currency})" in page and f"<td>{major[0]:,.{digits}f}</td>" in page
