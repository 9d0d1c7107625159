"""/v1/decisions on the odd inputs `test_decide_odd_inputs.py` sends the library: JSON booleans for an
arm and an outcome, arms with a handful of conversions, a blank shop, dollars beside a catalogue in
yuan, a channel whose spend says nothing. The API answers as the CLI does: 400 with the message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from marketpilot.api import create_app
from marketpilot.config import Settings
from marketpilot.data import Store

FEATURES = ["recency", "history", "mens", "womens", "newbie", "channel"]


@pytest.fixture(scope="module")
def client(shop: Settings) -> TestClient:
    return TestClient(create_app(shop))


def _post(client: TestClient, path: str, body: dict) -> tuple[int, dict]:
    response = client.post(f"/v1/decisions/{path}", json=body, headers=HEADERS)
    return response.status_code, response.json()


def test_uplift_takes_json_booleans_and_refuses_a_handful_of_conversions(
    client: TestClient, data_dir
) -> None:
    frame = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv.gz")
    frame = frame[frame["segment"] != "Mens E-Mail"].sample(3000, random_state=5)
    frame["emailed"] = frame["segment"] == "Womens E-Mail"  # JSON true/false
    frame["visited"] = frame["visit"] == 1
    body = {"treatment_col": "emailed", "control": "false", "outcome_col": "visited", "features": FEATURES}
    code, got = _post(client, "uplift", body | {"rows": frame.to_dict("records")})
    assert code == 200, got
    assert [q["arm"] for q in got["qini"]] == ["True"] and got["binary_outcome"]
    few = frame.head(800)
    conversions = int(few.loc[few["emailed"], "conversion"].sum())
    body |= {"outcome_col": "conversion"}
    code, got = _post(client, "uplift", body | {"rows": few.to_dict("records")})
    message = got["error"]["message"]
    assert code == 400 and "too few of each outcome" in message
    assert f"arm 'True' ({conversions} of {int(few['emailed'].sum())} rows with conversion = 1)" in message


def test_price_and_budget_say_what_their_rows_cannot_support(client: TestClient, shop: Settings) -> None:
    with Store.open(shop, read_only=True) as store:
        products = store.query("SELECT product_id, price_minor FROM products ORDER BY product_id LIMIT 2")
    rows = [
        {"sku": p, "shop": name, "price": price}
        for p, minor in products.itertuples(index=False)
        for name, price in (("京东", f"￥{minor / 100 * 1.1:.2f}"), ("Amazon US", f"${minor / 720:.2f}"))
    ]
    code, got = _post(client, "price", {"rows": rows, "product_col": "sku", "competitor_col": "shop"})
    assert code == 200, got
    assert got["summary"]["other_currency_rows"] == 2 and got["summary"]["positions"]["cheapest"] == 2
    rows[1]["shop"] = None
    code, got = _post(client, "price", {"rows": rows, "product_col": "sku", "competitor_col": "shop"})
    assert code == 400 and "rows[1], column 'shop': empty" in got["error"]["message"]

    rng = np.random.default_rng(2)
    history = [
        {"channel": "sms", "spend": s, "revenue": round(2000 * (1 - np.exp(-s / 1000)), 2)}
        for s in (50, 120, 200, 400, 800, 1500)
    ] + [
        {"channel": "直播", "spend": s, "revenue": round(float(rng.uniform(100, 900)), 2)}
        for s in (50, 120, 200, 400, 800, 1500)
    ]
    code, got = _post(client, "budget", {"rows": history, "total": 1000})
    assert code == 200, got
    assert got["weak_fits"] == ["直播"]
    code, got = _post(client, "budget", {"rows": history, "total": 1000, "minimum": {"sms": -5}})
    assert code == 422


def test_refusals_name_the_request_fields_not_the_cli_flags(client: TestClient) -> None:
    history = [{"channel": "sms", "spend": s, "revenue": 2 * s} for s in (10, 20, 40, 80, 160)]
    code, got = _post(client, "budget", {"rows": history, "total": 100, "spend_col": "花费"})
    assert code == 400 and got["error"]["message"] == "rows: no column '花费'"
    # the columns the rows have are kept in the hint, the flags become the fields that name them
    assert got["error"]["hint"] == (
        "columns in the file: channel, spend, revenue; name them with channel_col, spend_col, outcome_col"
    )
    code, got = _post(client, "budget", {"rows": history, "total": 100, "minimum": {"直播": 10}})
    assert code == 400 and got["error"] == {
        "type": "UserError",
        "message": "a minimum is given for channels not in the history: 直播",
        "hint": "channels in the history: sms",
    }
    listing = [{"title": "云裳 冰丝卫衣", "competitor": "京东", "price": 99, "brand": "云裳"}]
    code, got = _post(client, "price", {"rows": listing, "brand_col": "brand"})
    assert (
        code == 400 and got["error"]["message"] == "brand_col helps match listing titles: give title_col too"
    )
    rows = [
        {"arm": arm, "recency": i % 50, "bought": int(i % 7 == 0)}
        for i, arm in enumerate(["control", "email"] * 200)
    ]
    body = {"treatment_col": "arm", "control": "control", "outcome_col": "bought", "features": ["recency"]}
    code, got = _post(client, "uplift", body | {"rows": rows, "costs": {"sms": 0.1}})
    assert code == 400 and got["error"] == {
        "type": "UserError",
        "message": "a cost is given for arms that are not in the data: sms",
        "hint": "arms in the data: control, email",
    }
