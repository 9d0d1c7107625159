"""`marketpilot demo`: the whole loop on the bundled data, through the CLI, without the model (the
LLM-written parts have their own real-model tests in each area)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketpilot.cli import app
from marketpilot.config import get_settings
from marketpilot.data.store import Store
from marketpilot.demo import RETAIL_HOME


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_says_where_the_results_are(home: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--no-llm", "--customers", "800", "--home", str(home)])
    assert result.exit_code == 0, result.output
    index = json.loads((home / "demo" / "summary.json").read_text(encoding="utf-8"))
    steps = {s["name"]: s for s in index["steps"]}
    assert list(steps) == [
        "online_retail", "shop", "intel", "propensity", "recommend", "reviews", "copy", "assistant",
        "campaign", "decide",
    ]  # fmt: skip
    outputs = [Path(p) for s in index["steps"] for p in s["outputs"]]
    assert len(outputs) >= 12 and all(p.is_file() for p in outputs)
    assert f"Outputs are in {home.resolve()}" in " ".join(result.output.split())
    # one currency: named in the monthly table's headers, not in every cell (rows fit 80 columns)
    assert "net revenue per month" in result.output and "revenue (CNY)" in result.output
    assert not re.search(r"^│\s+│.*CNY", result.output, flags=re.M)

    # The real Online Retail export in its own store, the generated shop in the main one.
    with Store.open(get_settings(home / RETAIL_HOME), read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM customers WHERE NOT is_guest").n[0] == 4372
    # the summary's counts say what they count beside the loaded rows (guests, reversals as orders)
    assert "customers 5,981" in steps["online_retail"]["summary"]
    assert "4,372 customers and 1,609 guest checkouts, 19,963 sales" in steps["online_retail"]["summary"]
    retail = json.loads((home / "demo" / "online-retail" / "summary.json").read_text(encoding="utf-8"))
    assert retail["customers"] == 4372 and len(retail["by_month"]) == 13
    assert [r["currency"] for r in retail["revenue"]] == ["GBP"]  # revenue per currency, never summed across
    with Store.open(get_settings(home), read_only=True) as store:
        assert store.count("customers") == 800
        assert set(store.query("SELECT DISTINCT currency FROM orders").currency) == {"CNY"}

    # Intelligence, recommendations and reviews produced their tables and reports.
    segments = json.loads((home / "intel" / "segments.json").read_text(encoding="utf-8"))
    assert segments["k"] == 4 and all(s["persona"]["source"] == "template" for s in segments["segments"])
    assert (home / "reports" / "segments.html").read_text(encoding="utf-8").count("data:image/png") >= 3
    recs = pd.read_parquet(home / "recommend" / "recommendations.parquet")
    assert recs.groupby("customer_id")["rank"].max().eq(10).mean() > 0.9
    assert recs["reason_zh"].str.len().gt(0).all()
    assert "Skipped" in steps["copy"]["summary"] and "Skipped" in steps["assistant"]["summary"]

    # The campaign ran twice (v1, then the optimized v2) and measured v1 against its holdout.
    reports = [p for p in outputs if p.name.startswith("campaign-")]
    assert [p.name.rsplit("-", 1)[1] for p in reports] == ["v1.html", "v2.html"]
    assert "measured lift" in steps["campaign"]["summary"]
    # Uplift targeting on the real Hillstrom test: scores and the Qini chart (no report without LLM).
    assert [p.name for p in outputs if "uplift" in p.parts] == ["scores.csv", "qini.png"]
    assert "random 30 %" in steps["decide"]["summary"]
    # and a coupon per shop segment, from the shop's own baskets and catalogue costs.
    assert [p.name for p in outputs if "promo" in p.parts] == ["coupons.csv", "baskets.png"]
    assert "coupons designed: " in steps["decide"]["summary"]


def test_online_retail_store_keeps_the_demo_settings(tmp_path: Path) -> None:
    """Only the home differs: a cache folder, model or database URL given to the demo reaches the
    Online Retail step too."""
    from marketpilot.demo import DemoContext

    settings = get_settings(tmp_path / "home", cache_dir=tmp_path / "cache", llm_provider="openai_compat")
    retail = DemoContext(settings=settings, out_dir=tmp_path / "out").retail
    assert retail.home_dir == settings.home_dir / RETAIL_HOME
    assert (retail.cache_dir, retail.llm_provider) == (tmp_path / "cache", "openai_compat")


def test_demo_help_names_every_step() -> None:
    """The help lists what the demo runs, the decisions step (uplift, coupons) included."""
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    steps = ("Online Retail", "RFM", "recommendations", "review insight", "campaign loop")
    for step in (*steps, "Hillstrom", "满减"):
        assert step in text, step


def test_each_step_is_announced_before_it_runs(home: Path) -> None:
    """The CLI's progress line names the step at work (some take minutes): `on_start` hears it first,
    `on_step` the result after."""
    from marketpilot.demo import generate_shop, propensity, run_demo

    heard: list[object] = []
    run_demo(
        get_settings(home),
        steps=[generate_shop, propensity],
        customers=200,
        on_start=lambda number, total, label: heard.append((number, total, label)),
        on_step=lambda step: heard.append(step.name),
    )
    assert heard == [(1, 2, "generate shop"), "shop", (2, 2, "propensity"), "propensity"]


def test_the_browse_hint_names_a_marketpilot_the_shell_finds(monkeypatch, tmp_path: Path) -> None:
    """`make demo` installs into .venv/bin, not on PATH: the closing `serve` hint gives the path, not a
    bare `marketpilot` that the shell would not find."""
    import sysconfig

    from marketpilot.cli.demo_cmd import command_name

    script = Path(sysconfig.get_path("scripts")) / "marketpilot"
    if not script.is_file():
        pytest.skip("marketpilot is not installed as a script in this environment")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert Path(command_name()) == script
    monkeypatch.chdir(script.parents[2])  # the folder holding .venv, as after `make demo`
    assert command_name() == str(script.relative_to(script.parents[2]))
    monkeypatch.setenv("PATH", str(script.parent))
    assert command_name() == "marketpilot"


def test_a_second_demo_starts_its_campaigns_on_a_clean_state(home: Path, monkeypatch) -> None:
    """A second `make demo` sent 380 messages instead of 2,562: the first run's messages to the same
    customer ids counted against the frequency cap. The demo's new shop sets the old state aside."""
    from marketpilot.campaigns import service
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.demo import generate_shop, run_demo

    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    settings = get_settings(home)
    spec = {
        "name": "上次的活动",
        "goal": "reactivation",
        "audience": {},
        "channels": [{"name": "export", "variants": [{"key": "A", "text": "{name}，你好"}]}],
    }
    earlier = service.create_campaign(open_state(settings), parse_spec(spec))
    result = run_demo(settings, steps=[generate_shop], customers=200)
    (kept,) = home.glob("state.before-demo-*.sqlite")
    assert kept.name in result.steps[0].summary
    assert service.list_campaigns(open_state(settings)).empty  # the new shop's state
    assert earlier in set(
        service.list_campaigns(open_state(get_settings(home, database_url=f"sqlite:///{kept}")))["id"]
    )
