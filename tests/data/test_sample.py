"""The synthetic Chinese shop: schema, determinism, integrity, and the structure analytics rely on."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from marketpilot.cli import app
from marketpilot.data import Store
from marketpilot.data.sample import generate_shop, load_shop, shop_paths, truth_paths, vocab
from marketpilot.data.sample.tables import SCHEMAS
from marketpilot.data.schema import TABLES
from marketpilot.errors import UserError
from marketpilot.privacy.pii import find_pii

CUSTOMERS = 2_000
SEED = 7


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # Two chunks, so chunk boundaries (id counters, random streams) are exercised.
    return generate_shop(
        tmp_path_factory.mktemp("shop"), customers=CUSTOMERS, seed=SEED, chunk_customers=1_200
    )


@pytest.fixture(scope="module")
def con(shop: dict[str, Path]) -> duckdb.DuckDBPyConnection:
    """DuckDB views over the generated files (and the hidden truth) by table name."""
    connection = duckdb.connect()
    for name, path in shop.items():
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    for name, path in truth_paths(shop["orders"].parent).items():
        connection.execute(f"CREATE VIEW truth_{name} AS SELECT * FROM read_parquet('{path}')")
    return connection


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    return con.execute(sql).fetchone()[0]


def test_every_table_matches_the_canonical_schema(
    shop: dict[str, Path], con: duckdb.DuckDBPyConnection
) -> None:
    assert set(shop) == set(TABLES)
    for name, spec in TABLES.items():
        schema = pq.read_schema(shop[name])
        assert schema.names == list(spec.column_names), name
        assert [f.type for f in schema] == [f.type for f in SCHEMAS[name]], name
        assert scalar(con, f"SELECT count(*) FROM {name}") > 0, name
        for column in spec.required:
            assert scalar(con, f'SELECT count(*) FROM {name} WHERE "{column}" IS NULL') == 0, (name, column)
        key = ", ".join(spec.key)
        duplicates = scalar(
            con, f"SELECT count(*) FROM (SELECT {key} FROM {name} GROUP BY ALL HAVING count(*) > 1)"
        )
        assert duplicates == 0, name
    assert scalar(con, "SELECT count(*) FROM customers") == CUSTOMERS
    currencies = {"orders", "order_items", "products"}
    for name in currencies:
        assert con.execute(f"SELECT DISTINCT currency FROM {name}").fetchall() == [("CNY",)]


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    def digests(paths: dict[str, Path]) -> dict[str, str]:
        return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}

    calls: list[tuple[int, int]] = []
    first = digests(
        generate_shop(
            tmp_path / "a", customers=500, seed=3, chunk_customers=200, progress=lambda *c: calls.append(c)
        )
    )
    assert calls == [(200, 500), (400, 500), (500, 500)]
    again = digests(generate_shop(tmp_path / "b", customers=500, seed=3, chunk_customers=200))
    other = digests(generate_shop(tmp_path / "c", customers=500, seed=4, chunk_customers=200))
    assert first == again
    assert all(first[name] != other[name] for name in TABLES)
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "a").iterdir())


REFERENCES = (
    ("order_items", "order_id", "orders"),
    ("orders", "order_id", "order_items"),
    ("order_items", "product_id", "products"),
    ("orders", "customer_id", "customers"),
    ("events", "customer_id", "customers"),
    ("events", "product_id", "products"),
    ("reviews", "product_id", "products"),
    ("reviews", "customer_id", "customers"),
    ("customer_pii", "customer_id", "customers"),
)


def test_references_point_at_existing_rows(con: duckdb.DuckDBPyConnection) -> None:
    orphans = {
        (child, column, parent): scalar(
            con, f"SELECT count(*) FROM {child} WHERE {column} NOT IN (SELECT {column} FROM {parent})"
        )
        for child, column, parent in REFERENCES
    }
    assert orphans == dict.fromkeys(orphans, 0)
    for table, column in (("orders", "ordered_at"), ("events", "occurred_at")):
        joined = f"{table} t JOIN customers c USING (customer_id)"
        before_signup = f"SELECT count(*) FROM {joined} WHERE t.{column} < c.created_at"
        assert scalar(con, before_signup) == 0, table
    for table, column in (("orders", "ordered_at"), ("events", "occurred_at"), ("reviews", "created_at")):
        first, last = con.execute(f"SELECT min({column}), max({column}) FROM {table}").fetchone()
        assert first.year == 2024 and last < datetime(2026, 1, 1), table


def test_no_event_falls_after_the_last_day(tmp_path: Path) -> None:
    # seed 34: a browsing session starting at 23:5x on the last day ran past midnight (audiences then
    # warn that the events outrun the orders)
    shop = generate_shop(tmp_path, customers=500, seed=34)
    last_event, last_order = (
        duckdb.connect()
        .execute(
            f"SELECT (SELECT max(occurred_at) FROM read_parquet('{shop['events']}')), "
            f"(SELECT max(ordered_at) FROM read_parquet('{shop['orders']}'))"
        )
        .fetchone()
    )
    assert last_event.date() == last_order.date() == datetime(2025, 12, 31).date()


def test_order_totals_add_up_and_reversals_are_negative(con: duckdb.DuckDBPyConnection) -> None:
    mismatched = scalar(
        con,
        """SELECT count(*) FROM orders o JOIN (
             SELECT order_id, sum(quantity * unit_price_minor) - sum(discount_minor) AS net,
                    sum(discount_minor) AS discount
             FROM order_items GROUP BY order_id) i USING (order_id)
           WHERE o.total_minor <> i.net OR o.discount_minor <> i.discount""",
    )
    assert mismatched == 0
    statuses = dict(
        con.execute("SELECT status, min(sign(total_minor)) FROM orders GROUP BY status").fetchall()
    )
    assert statuses["completed"] == 1
    assert statuses["cancelled"] == -1 and statuses["returned"] == -1
    # Every reversal refers to a sale of the same customer with the same number, and comes later.
    bad = scalar(
        con,
        """SELECT count(*) FROM orders r LEFT JOIN orders s
             ON s.order_id = 'O' || substr(r.order_id, 2) AND s.customer_id = r.customer_id
           WHERE r.status <> 'completed' AND (s.order_id IS NULL OR r.ordered_at <= s.ordered_at)""",
    )
    assert bad == 0
    discounted = scalar(con, "SELECT avg((discount_minor > 0)::INT) FROM orders WHERE status = 'completed'")
    assert 0.1 < discounted < 0.6


def test_november_and_double_eleven_peak_and_spring_festival_dips(con: duckdb.DuckDBPyConnection) -> None:
    monthly = dict(
        con.execute(
            "SELECT strftime(ordered_at, '%Y-%m'), sum(total_minor) FROM orders GROUP BY 1"
        ).fetchall()
    )
    average = sum(monthly.values()) / len(monthly)
    assert monthly["2025-11"] > 1.5 * average
    assert monthly["2024-11"] > max(monthly[m] for m in ("2024-07", "2024-08", "2024-09"))
    daily = dict(
        con.execute(
            "SELECT ordered_at::DATE, count(*) FROM orders WHERE status = 'completed' GROUP BY 1"
        ).fetchall()
    )
    top_day = max(daily, key=daily.get)
    assert (top_day.month, top_day.day) == (11, 11)
    # 春节 2025 (29 Jan): the holiday week sells less than the stocking-up weeks before it.
    holiday = sum(v for d, v in daily.items() if "2025-01-29" <= d.isoformat() < "2025-02-05")
    before = sum(v for d, v in daily.items() if "2025-01-08" <= d.isoformat() < "2025-01-15")
    assert holiday < 0.6 * before


def test_funnel_views_then_carts_then_purchases(con: duckdb.DuckDBPyConnection) -> None:
    counts = dict(con.execute("SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert set(counts) == {"view", "cart", "purchase"}
    assert counts["view"] > counts["cart"] > counts["purchase"]
    # Per customer and product too: nobody buys what they never carted or carts what they never saw.
    broken = scalar(
        con,
        """SELECT count(*) FROM (
             SELECT customer_id, product_id,
                    count(*) FILTER (event_type = 'view') AS v,
                    count(*) FILTER (event_type = 'cart') AS c,
                    count(*) FILTER (event_type = 'purchase') AS p,
                    min(occurred_at) FILTER (event_type = 'view') AS first_view,
                    min(occurred_at) FILTER (event_type = 'purchase') AS first_purchase
             FROM events GROUP BY 1, 2)
           WHERE NOT (v >= c AND c >= p) OR first_purchase < first_view""",
    )
    assert broken == 0
    # One purchase event per sold line, at the order's time.
    unmatched = scalar(
        con,
        """SELECT count(*) FROM (
             SELECT o.customer_id, i.product_id, o.ordered_at
             FROM order_items i JOIN orders o USING (order_id) WHERE o.status = 'completed'
             EXCEPT ALL
             SELECT customer_id, product_id, occurred_at FROM events WHERE event_type = 'purchase')""",
    )
    assert unmatched == 0
    assert counts["purchase"] == scalar(
        con, "SELECT count(*) FROM order_items JOIN orders USING (order_id) WHERE status = 'completed'"
    )


def test_events_carry_repeat_interactions_for_recommenders(con: duckdb.DuckDBPyConnection) -> None:
    repeat_buyers = scalar(
        con,
        """SELECT avg((n > 1)::INT) FROM (
             SELECT customer_id, product_id, count(*) AS n FROM events WHERE event_type = 'purchase'
             GROUP BY 1, 2)""",
    )
    assert 0.03 < repeat_buyers < 0.5
    # Consumables are re-bought far more often than clothes.
    rebuy = dict(
        con.execute(
            """SELECT p.category, avg((n > 1)::INT) FROM (
                 SELECT customer_id, product_id, count(*) AS n FROM events WHERE event_type = 'purchase'
                 GROUP BY 1, 2) e JOIN products p USING (product_id) GROUP BY 1"""
        ).fetchall()
    )
    assert rebuy["食品"] > 1.5 * rebuy["服饰"]
    # Bought together: in multi-line orders the first item's companion is often in the basket, far
    # more often than the companion of another product (the baseline).
    shares = con.execute(
        """WITH partners AS (
             SELECT product_id, companion_id, lead(companion_id) OVER (ORDER BY product_id) AS other_id
             FROM truth_products),
           firsts AS (
             SELECT i.order_id, p.companion_id, p.other_id
             FROM order_items i JOIN partners p USING (product_id)
             WHERE i.line_no = 1 AND i.order_id LIKE 'O%'
               AND i.order_id IN (SELECT order_id FROM order_items WHERE line_no = 2)),
           baskets AS (
             SELECT f.*, list(o.product_id) AS rest FROM firsts f
             JOIN order_items o ON o.order_id = f.order_id AND o.line_no > 1 GROUP BY ALL)
           SELECT avg(list_contains(rest, companion_id)::INT), avg(list_contains(rest, other_id)::INT)
           FROM baskets"""
    ).fetchone()
    assert shares[0] > 0.2 and shares[0] > 5 * shares[1]


def test_review_ratings_follow_hidden_product_quality(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT min(rating), max(rating) FROM reviews").fetchone() == (1, 5)
    deciles = dict(
        con.execute(
            """SELECT decile, avg(rating) FROM (
                 SELECT r.rating, ntile(10) OVER (ORDER BY t.quality) AS decile
                 FROM reviews r JOIN truth_products t USING (product_id))
               WHERE decile IN (1, 10) GROUP BY 1"""
        ).fetchall()
    )
    assert deciles[10] > deciles[1] + 0.7
    texts = [row[0] for row in con.execute("SELECT text FROM reviews").fetchall()]
    assert all(re.search(r"[\u4e00-\u9fff]", t) for t in texts)
    assert len(set(texts)) > 0.3 * len(texts)
    # Complaints are about the product's hidden weak aspect far more often than about other aspects.
    complaints = con.execute(
        """SELECT r.text, t.weak_aspect, p.category FROM reviews r
           JOIN truth_products t USING (product_id) JOIN products p USING (product_id) WHERE r.rating <= 2"""
    ).fetchall()
    aspects_of = {c.name: c.aspects for c in vocab.CATEGORIES}

    def complains(text: str, aspect: str) -> bool:
        return any(phrase in text for phrase in vocab.ASPECT_PHRASES[aspect][1])

    weak = sum(complains(text, aspect) for text, aspect, _ in complaints) / len(complaints)
    other = sum(
        complains(text, next(a for a in aspects_of[category] if a != aspect))
        for text, aspect, category in complaints
    ) / len(complaints)
    assert weak > 0.6 and weak > 2 * other


def test_personal_data_only_in_customer_pii(con: duckdb.DuckDBPyConnection) -> None:
    pii = con.execute("SELECT name, phone, email, address FROM customer_pii").fetchall()
    assert all(find_pii(phone) and find_pii(email) for _, phone, email, _ in pii[:200])
    assert all(re.fullmatch(r"1[3-9]\d{9}", phone) for _, phone, _, _ in pii)
    personal = {value for row in pii for value in row[1:]}
    names = {row[0] for row in pii}
    for table, spec in TABLES.items():
        if spec.private:
            continue
        for column in (c.name for c in spec.columns if c.type == "VARCHAR"):
            values = {v for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM {table}').fetchall() if v}
            assert not values & personal, (table, column)
            assert not values & names, (table, column)
            sample = list(values)[:300]
            assert not [v for v in sample if find_pii(v)], (table, column)


def test_customers_differ_like_bg_nbd_buyers(con: duckdb.DuckDBPyConnection) -> None:
    per_buyer = con.execute(
        """SELECT count(*) AS n, t.purchases_per_year AS rate, t.alive_at_end, max(o.ordered_at) AS last
           FROM orders o JOIN truth_customers t USING (customer_id) WHERE o.status = 'completed'
           GROUP BY o.customer_id, t.purchases_per_year, t.alive_at_end"""
    ).df()
    assert per_buyer["n"].var() > 2 * per_buyer["n"].mean()  # over-dispersed: heterogeneous rates
    assert per_buyer["n"].corr(per_buyer["rate"], method="spearman") > 0.3
    alive = per_buyer[per_buyer["alive_at_end"]]["last"].median()
    gone = per_buyer[~per_buyer["alive_at_end"]]["last"].median()
    assert alive > gone
    never = scalar(
        con, "SELECT count(*) FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)"
    )
    assert 0.1 * CUSTOMERS < never < 0.5 * CUSTOMERS
    # Tastes and price sensitivity show in what people buy.
    habits = con.execute(
        """SELECT t.price_sensitivity, t.favourite_category,
                  sum(i.discount_minor) / sum(i.quantity * i.unit_price_minor) AS discount_share,
                  avg(i.unit_price_minor) AS mean_price,
                  mode(p.category) AS top_category, count(*) AS lines
           FROM order_items i JOIN orders o USING (order_id) JOIN products p USING (product_id)
           JOIN truth_customers t USING (customer_id) WHERE o.status = 'completed'
           GROUP BY o.customer_id, t.price_sensitivity, t.favourite_category"""
    ).df()
    assert habits["price_sensitivity"].corr(habits["discount_share"], method="spearman") > 0.1
    assert habits["price_sensitivity"].corr(habits["mean_price"], method="spearman") < -0.1
    regulars = habits[habits["lines"] >= 8]
    assert (regulars["top_category"] == regulars["favourite_category"]).mean() > 0.5
    tiers = dict(con.execute("SELECT city, count(*) FROM customers GROUP BY 1").fetchall())
    assert tiers["上海"] > tiers["西宁"]


def test_load_shop_fills_the_store_once(shop: dict[str, Path], tmp_path: Path) -> None:
    manifest = json.loads((shop["orders"].parent / "manifest.json").read_text(encoding="utf-8"))
    with Store.open(tmp_path / "home") as store:
        loaded = load_shop(store, shop)
        again = load_shop(store, shop)
        counts = store.counts()
    assert loaded == again == manifest["rows"]
    assert counts == manifest["rows"]


def test_bad_arguments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="before the start"):
        generate_shop(tmp_path, customers=10, start="2025-01-01", end="2024-01-01")
    with pytest.raises(UserError, match="2015-01-01 to 2029-12-31"):
        generate_shop(tmp_path, customers=10, start="2040-01-01", end="2040-12-31")
    with pytest.raises(UserError, match="customers must be"):
        generate_shop(tmp_path, customers=0)
    with pytest.raises(UserError, match="date like"):
        generate_shop(tmp_path, customers=10, start="yesterday")
    with pytest.raises(UserError, match="not found"), Store.open(tmp_path / "home") as store:
        load_shop(store, shop_paths(tmp_path / "nothing"))
    assert not list(tmp_path.glob("*.parquet"))


def test_cli_generates_and_loads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(
        app, ["sample", "generate", "--customers", "300", "--seed", "5", "--home", str(home), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert Path(payload["out_dir"]).is_relative_to(home.resolve())
    assert payload["loaded"] == payload["rows"]
    with Store.open(home) as store:
        assert store.count("customers") == 300


@pytest.mark.slow
def test_100k_customers_stream_in_bounded_time_and_memory(tmp_path: Path) -> None:
    # Peak RSS from VmHWM: a spawned child's ru_maxrss starts at the parent's peak (Linux keeps it across
    # exec), so inside a pytest process that has loaded the 1.9 GB model it measured pytest, not this run.
    script = (
        "import re, sys, time; from pathlib import Path; from marketpilot.data.sample import generate_shop; "
        "t = time.perf_counter(); generate_shop(sys.argv[1], customers=100_000, seed=1); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1); "
        "print(time.perf_counter() - t, hwm)"
    )
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    seconds, max_rss_kb = out.stdout.split()
    assert float(seconds) < 90 and time.perf_counter() - began < 120
    assert int(max_rss_kb) < 1_500_000  # a chunk at a time, not the whole shop
    lines = pq.ParquetFile(tmp_path / "order_items.parquet").metadata.num_rows
    assert 600_000 < lines < 1_500_000
