from __future__ import annotations

import pandas as pd

from marketpilot.analytics.reviews import aspect_mentions, keywords, summarise_aspects
from marketpilot.analytics.reviews.aspects import aspect_table, split_clauses


def test_one_review_can_praise_one_aspect_and_blame_another() -> None:
    reviews = pd.DataFrame(
        {
            "review_id": ["a", "b", "c"],
            "text": [
                "质量很好，但是物流太慢了",
                "价格便宜，包装也很好，就是客服态度很差",
                "Great price but the delivery was late",
            ],
            "category": ["杯子", "杯子", "bags"],
        }
    )
    mentions = aspect_mentions(reviews)
    got = {(r.review_id, r.aspect): r.label for r in mentions.itertuples()}
    assert got[("a", "quality")] == "pos" and got[("a", "shipping")] == "neg"
    assert (
        got[("b", "price")] == "pos" and got[("b", "packaging")] == "pos" and got[("b", "service")] == "neg"
    )
    assert got[("c", "price")] == "pos" and got[("c", "shipping")] == "neg"
    table = aspect_table(mentions, reviews, "category").set_index(["category", "aspect"])
    assert table.loc[("杯子", "shipping"), "neg"] == 1 and table.loc[("杯子", "quality"), "pos"] == 1
    stats = {s.aspect: s for s in summarise_aspects(mentions, "zh")}
    assert stats["shipping"].name == "物流" and stats["shipping"].complaint_examples


def test_real_notebook_reviews(shop_reviews: pd.DataFrame) -> None:
    clauses = split_clauses(shop_reviews)
    assert len(clauses) > len(shop_reviews) and (clauses.clause.str.len() >= 2).all()
    stats = summarise_aspects(aspect_mentions(shop_reviews), "zh")
    assert stats[0].mentions >= stats[-1].mentions
    assert sum(s.mentions for s in stats) >= len(shop_reviews) // 2
    words = keywords(shop_reviews.text.tolist(), "zh")
    assert "屏幕" in words and "的" not in words
    assert keywords(["The battery is great", "battery died, the screen is great"], "en")[:2] == [
        "battery",
        "great",
    ]
