"""/v1/decisions on the sample shop: the same figures as the library functions `marketpilot decide`
calls, on the real Hillstrom test, the shop's catalogue and a budget history; errors as JSON."""

from __future__ import annotations

import pandas as pd
import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from marketpilot.analytics.uplift import Experiment, fit_experiment
from marketpilot.api import create_app
from marketpilot.config import Settings
from marketpilot.data import Store

FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.fixture(scope="module")
def client(shop: Settings) -> TestClient:
    return TestClient(create_app(shop))


def test_uplift_over_json_rows_matches_the_library(client: TestClient, data_dir, tmp_path):
    frame = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv.gz").sample(8000, random_state=2)
    frame["segment"] = frame["segment"].map(
        {"Mens E-Mail": "男装", "Womens E-Mail": "女装", "No E-Mail": "不发"}
    )
    body = {"treatment_col": "segment", "control": "不发", "outcome_col": "visit", "features": FEATURES}
    assert client.get("/v1/decisions/uplift", headers=HEADERS).status_code == 404
    response = client.post(
        "/v1/decisions/uplift", json=body | {"rows": frame.to_dict("records")}, headers=HEADERS
    )
    assert response.status_code == 200, response.text
    got = response.json()
    frame.to_csv(tmp_path / "same.csv", index=False)
    expected = fit_experiment(Experiment(path=tmp_path / "same.csv", **body))
    assert [q["arm"] for q in got["qini"]] == ["女装", "男装"]
    assert [q["qini"] for q in got["qini"]] == pytest.approx([q.qini for q in expected.qini])
    assert got["policies"]["targeted"] == pytest.approx(expected.policies.targeted)
    interval = got["policies"]["gain_over_best_blanket_interval"]
    assert interval == pytest.approx(list(expected.policies.gain_over_best_blanket_interval))
    assert len(got["qini_curves"]["女装"]) == 101
    assert client.get("/v1/decisions/uplift", headers=HEADERS).json()["policies"] == got["policies"]
    bad = client.post(
        "/v1/decisions/uplift", json=body | {"rows": frame.head(50).to_dict("records")}, headers=HEADERS
    )
    assert bad.status_code == 400 and "fewer than 200 rows" in bad.json()["error"]["message"]


def test_price_and_budget(client: TestClient, shop: Settings):
    with Store.open(shop, read_only=True) as store:
        products = store.query("SELECT product_id, price_minor FROM products ORDER BY product_id LIMIT 4")
    rows = [
        {"sku": p, "shop": name, "price": f"￥{minor / 100 * m:.2f}"}
        for p, minor in products.itertuples(index=False)
        for name, m in (("甲", 1.1), ("乙", 1.3))
    ]
    body = {"rows": rows, "product_col": "sku", "competitor_col": "shop"}
    priced = client.post("/v1/decisions/price", json=body, headers=HEADERS)
    assert priced.status_code == 200, priced.text
    assert priced.json()["summary"]["positions"]["cheapest"] == 4
    assert priced.json()["products_csv"].startswith("decisions/price/")
    assert str(shop.home_dir.resolve()) not in priced.text
    missing = client.post("/v1/decisions/price", json=body | {"price_col": "售价"}, headers=HEADERS)
    assert missing.status_code == 400 and "no column '售价'" in missing.json()["error"]["message"]
    # Listings named by title and brand: another brand's twin of our product is not ours.
    with Store.open(shop, read_only=True) as store:
        named = store.query("SELECT name, brand FROM products ORDER BY product_id LIMIT 1")
    name, brand = named.iloc[0]
    titled = [{"title": name, "brand": brand, "shop": "甲", "price": "99"}]
    titled.append({"title": f"小米 {name.split(' ', 1)[1]}", "brand": "小米", "shop": "甲", "price": "1"})
    body = {"rows": titled, "title_col": "title", "brand_col": "brand", "competitor_col": "shop"}
    by_title = client.post("/v1/decisions/price", json=body, headers=HEADERS)
    assert by_title.status_code == 200, by_title.text
    assert by_title.json()["summary"]["titles"] == {"matched": 1, "review": 0, "unmatched": 1}

    history = [
        {"channel": c, "spend": s, "revenue": round(a * (1 - 2.718281828 ** (-s / b)), 2)}
        for c, a, b in (("push", 500.0, 100.0), ("sms", 2000.0, 1000.0))
        for s in (50, 120, 200, 400, 800, 1500)
    ]
    plan = client.post("/v1/decisions/budget", json={"rows": history, "total": 1000}, headers=HEADERS)
    assert plan.status_code == 200, plan.text
    spend = {c["channel"]: c["spend"] for c in plan.json()["allocation"]["channels"]}
    assert sum(spend.values()) == pytest.approx(1000, rel=1e-6) and spend["sms"] > spend["push"]
    last = client.get("/v1/decisions/budget", headers=HEADERS)
    assert last.json()["allocation"]["total"] == 1000 and str(shop.home_dir.resolve()) not in last.text
    # Festival rows sell 50 % more at the same spend: fitted apart, and split for.
    festival = [
        {
            "channel": c,
            "spend": s,
            "revenue": round(1.5 * a * (1 - 2.718281828 ** (-s / b)), 2),
            "大促": "双11",
        }
        for c, a, b in (("push", 500.0, 100.0), ("sms", 2000.0, 1000.0))
        for s in (300, 600)
    ]
    body = {"rows": history + festival, "total": 1000, "event_col": "大促", "for_event": True}
    plan = client.post("/v1/decisions/budget", json=body, headers=HEADERS)
    assert plan.status_code == 200, plan.text
    assert plan.json()["for_event"] and all(
        c["event_uplift"] == pytest.approx(0.5, abs=0.01) for c in plan.json()["curves"]
    )


def test_promo_over_the_stores_orders(client: TestClient):
    designed = client.post("/v1/decisions/promo", json={"by": "all"}, headers=HEADERS)
    assert designed.status_code == 200, designed.text
    (group,) = designed.json()["groups"]
    assert designed.json()["margin_source"] == "catalogue costs"
    assert group["threshold"] >= group["median_basket"] and group["shallow"]["margin_left"] >= 0.15
    assert client.get("/v1/decisions/promo", headers=HEADERS).json()["groups"] == designed.json()["groups"]
    bad = client.post("/v1/decisions/promo", json={"by": "brand"}, headers=HEADERS)
    assert bad.status_code == 422


def test_bad_rows_and_values_are_named_in_the_callers_terms(client: TestClient, data_dir) -> None:
    """No NaN or infinity is an amount (one used to be saved as the last decision, and every later GET
    failed); an odd cell is named by its index in `rows`, not by a temporary file's line."""
    frame = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv.gz").head(1500)
    rows = frame.to_dict("records")
    body = {"treatment_col": "segment", "control": "No E-Mail", "outcome_col": "visit", "features": FEATURES}

    def post(path: str, payload: dict) -> tuple[int, str]:
        response = client.post(f"/v1/decisions/{path}", json=payload, headers=HEADERS)
        return response.status_code, response.text

    code, text = post("uplift", body | {"rows": rows, "costs": {"Mens E-Mail": "NaN"}})
    assert code == 422 and "finite number" in text
    code, text = post("uplift", body | {"rows": rows, "bogus": 1})
    assert code == 422 and "bogus" in text
    odd = [dict(r) for r in rows]
    odd[3]["segment"], odd[7]["recency"] = None, "abc"
    code, text = post("uplift", body | {"rows": odd})
    assert (
        code == 400 and "rows[7], column 'recency': 'abc' is not a number" in text and "parquet" not in text
    )
    odd[7]["recency"] = 3
    code, text = post("uplift", body | {"rows": odd})
    assert code == 400 and "rows[3], column 'segment': empty" in text
    with_ids = [r | {"id": f"c{i}"} for i, r in enumerate(rows)]
    code, text = post("uplift", body | {"rows": with_ids, "features": ["id"]})
    assert code == 400 and "id (" in text and "no feature" in text

    history = [{"channel": c, "spend": s, "revenue": 2 * s} for c in ("短信", "推送") for s in (50, 90, 200)]
    history[4]["spend"] = 1e308
    code, text = post("budget", {"rows": history, "total": 1000})
    assert code == 400 and "rows[4], column 'spend'" in text
    code, text = post("budget", {"rows": history, "total": "Infinity"})
    assert code == 422
    prices = [{"product_id": None, "competitor": "甲", "price": 10}]
    code, text = post("price", {"rows": prices})
    assert code == 400 and "rows[0], column 'product_id': empty" in text
