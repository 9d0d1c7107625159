"""An id the store has never seen gets the popular list (the newcomer rule), but says so: a typo
must not look like a real customer's recommendations."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from marketpilot.analytics.recommend import recommend_for_all, recommendations_for
from marketpilot.cli import app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.sample import make_sample


def test_an_unknown_id_gets_the_popular_list_marked_as_unknown(settings: Settings) -> None:
    make_sample(settings, customers=200, products=40, seed=5)
    recommend_for_all(settings, k=5)
    with Store.open(settings, read_only=True) as store:
        buyer = str(store.query("SELECT min(customer_id) FROM orders").iloc[0, 0])

    own = recommendations_for(settings, buyer, k=5)
    assert len(own) == 5 and own["known_customer"].all()
    typo = recommendations_for(settings, buyer + "x", k=5)
    assert len(typo) == 5 and set(typo["reason"]) == {"popular"} and not typo["known_customer"].any()

    runner = CliRunner()
    shown = runner.invoke(
        app, ["recommend", "for", buyer + "x", "--k", "5", "--json", "--home", str(settings.home)]
    )
    assert shown.exit_code == 0, shown.output
    assert [r["known_customer"] for r in json.loads(shown.stdout)] == [False] * 5
    assert "neither the last `recommend fit` nor the store" in shown.stderr and buyer + "x" in shown.stderr
    quiet = runner.invoke(app, ["recommend", "for", buyer, "--k", "5", "--home", str(settings.home)])
    assert quiet.exit_code == 0 and "Note:" not in quiet.stderr
