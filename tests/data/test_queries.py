"""The shared read queries agree with the same figures computed in pandas from the tables."""

from __future__ import annotations

from marketpilot.config import Settings
from marketpilot.data.queries import customer_counts, lowest_rated_category, monthly_sales
from marketpilot.data.sample import make_sample
from marketpilot.data.store import Store


def test_queries_match_pandas_on_a_generated_shop(settings: Settings) -> None:
    make_sample(settings, customers=400, seed=3)
    with Store.open(settings, read_only=True) as store:
        orders, customers = store.read("orders"), store.read("customers")
        reviews, products = store.read("reviews"), store.read("products")
        monthly = monthly_sales(store).set_index("month")
        counts = customer_counts(store)
        worst = lowest_rated_category(store, min_reviews=10)
        assert lowest_rated_category(store, min_reviews=10**9) is None

    done = orders[orders.status == "completed"]
    by_month = done.groupby(done.ordered_at.dt.strftime("%Y-%m"))
    assert monthly.orders.to_dict() == by_month.size().to_dict()
    assert monthly.customers.to_dict() == by_month.customer_id.nunique().to_dict()
    assert (monthly.revenue - by_month.total_minor.sum() / 100).abs().max() < 1e-6
    guest = customers.is_guest.fillna(False).astype(bool)
    assert counts == (int((~guest).sum()), int(guest.sum()))
    rated = reviews.merge(products[["product_id", "category"]], on="product_id").dropna(subset=["rating"])
    stats = rated.groupby("category").rating.agg(["mean", "size"])
    assert worst == stats[stats["size"] >= 10]["mean"].idxmin()
    assert len(monthly) == 24  # the generator's default two years
