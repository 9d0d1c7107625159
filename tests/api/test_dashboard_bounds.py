"""What the dashboard shows stays true and bounded: revenue per currency (never one sum across
currencies), a clear line where the promo chart's file is gone (not a broken image), a campaign spec
cut to a readable size with what was cut said, and an approval note of bounded length."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from test_dashboard_pages import chart, spec

from marketpilot.api import create_app
from marketpilot.config import Settings, get_settings
from marketpilot.errors import UserError

HTMX = {"content-type": "application/x-www-form-urlencoded", "HX-Request": "true"}


def test_overview_shows_revenue_per_currency_never_one_sum(tmp_path: Path) -> None:
    from marketpilot.data import Store

    settings = get_settings(tmp_path / "home")
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5", "R1"],
            "customer_id": ["C1", "C2", "C1", "C3", "C2", "C2"],
            "ordered_at": pd.to_datetime(
                ["2025-01-05", "2025-01-09", "2025-02-01", "2025-02-03", "2025-02-08", "2025-02-10"]
            ),
            "status": ["completed"] * 5 + ["returned"],
            "currency": ["CNY", "USD", "CNY", "JPY", "CNY", "CNY"],
            "total_minor": [12_300, 4_000, 10_000, 98_000, 5_000, -1_000],
        }
    )
    with Store.open(settings) as store:
        store.upsert("orders", orders)
    page = TestClient(create_app(settings, require_key=False)).get("/ui/").text
    # was one card "1,293 CNY": yuan, dollars and yen (¥98,000 read as 980) added up
    cards = re.findall(r"<b>([\d,]+) ([A-Z]{3})</b>", page)
    assert cards == [("263", "CNY"), ("98,000", "JPY"), ("40", "USD")]  # CNY net of R1's return
    assert "per currency, never added up" in page and "各币种分列" in page
    assert page.count("net of 退货 returns") == 1 and "returns 10 · 取消 cancellations 0" in page
    options = chart(page, "revenue")
    assert {s["name"]: s["data"] for s in options["series"]} == {
        "CNY": [123.0, 140.0],
        "JPY": [0.0, 98000.0],
        "USD": [40.0, 0.0],
    }
    assert options["yAxis"]["name"] == "销售额 revenue, per currency" and options["legend"]["show"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("bounds") / "home")
    make_sample(settings, customers=300, seed=3)
    return settings


def test_a_missing_promo_chart_is_said_not_shown_broken(shop: Settings) -> None:
    from marketpilot.analytics.promo import PromoSpec, plan_promotions

    plan = plan_promotions(shop, PromoSpec(by="all"))
    client = TestClient(create_app(shop, require_key=False))
    img = '<img src="/ui/decisions/promo/chart.png"'
    drawn = client.get("/ui/decisions").text
    assert img in drawn and client.get("/ui/decisions/promo/chart.png").status_code == 200
    assert plan.chart_path is not None
    plan.chart_path.unlink()  # a home copied without it, or the file deleted
    page = client.get("/ui/decisions").text
    assert img not in page and "The basket chart (baskets.png) is missing" in page
    assert "满减券设计 Coupon design" in page and "marketpilot decide promo" in page  # the table stays


def _campaign(settings: Settings, campaign_id: str, **extra: object) -> None:
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state

    create_campaign(open_state(settings), parse_spec(spec("春节唤醒", **extra)), campaign_id=campaign_id)


def test_a_huge_spec_is_cut_on_the_page_saying_how_much(tmp_path: Path) -> None:
    from marketpilot.campaigns.service import get_spec
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.web.views import MAX_SPEC_SHOWN

    settings = get_settings(tmp_path / "home")
    _campaign(settings, "big-1", audience={"include": [f"会员{i:06d}" for i in range(20_000)]})
    _campaign(settings, "small-1")
    client = TestClient(create_app(settings, require_key=False))
    page = client.get("/ui/campaigns/big-1").text
    shown = html.unescape(re.search(r"<pre>(.*?)</pre>", page, re.S).group(1))  # type: ignore[union-attr]
    full = get_spec(open_state(settings), "big-1")[0].to_yaml()
    assert len(full) > 10 * MAX_SPEC_SHOWN  # was all of it, ~380 kB in one <pre>
    assert len(shown) <= MAX_SPEC_SHOWN and full.startswith(shown) and shown.endswith("\n")
    cut = full[len(shown) :]
    assert f"{len(cut):,} more characters ({cut.count(chr(10)):,} lines) not shown" in page
    assert "marketpilot campaign show big-1" in page
    small = client.get("/ui/campaigns/small-1").text
    assert "more characters" not in small and "name: 春节唤醒" in small


def test_an_approval_note_is_bounded_at_every_door(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from marketpilot.campaigns.service import MAX_NOTE, audit_trail
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.cli import app

    settings = get_settings(tmp_path / "home")
    _campaign(settings, "spring-1")
    client = TestClient(create_app(settings, require_key=False))
    too_long = "备" * (MAX_NOTE + 1)
    page = client.get("/ui/campaigns/spring-1").text
    assert f'name="note" placeholder="备注 Note" maxlength="{MAX_NOTE}"' in page
    form = client.post("/ui/campaigns/spring-1/approve", content=f"by=小王&note={too_long}", headers=HTMX)
    assert 'class="bad"' in form.text and "The approval note is 2,001 characters; at most 2,000." in form.text
    api = client.post("/v1/campaigns/spring-1/approve", json={"by": "小王", "note": too_long})
    assert api.status_code == 422
    assert api.json()["error"]["problems"] == ["body.note: String should have at most 2000 characters"]
    cli = CliRunner().invoke(
        app,
        [
            "campaign",
            "approve",
            "spring-1",
            "--by",
            "小王",
            "--note",
            too_long,
            "--home",
            str(settings.home_dir),
        ],
    )
    assert isinstance(cli.exception, UserError) and "at most 2,000" in str(cli.exception)
    assert audit_trail(open_state(settings), "spring-1")["approvals"].empty  # nothing was written
    done = client.post("/v1/campaigns/spring-1/approve", json={"by": "小王", "note": "备" * MAX_NOTE})
    assert done.status_code == 200
    notes = audit_trail(open_state(settings), "spring-1")["approvals"]["note"].tolist()
    assert notes == ["备" * MAX_NOTE]
