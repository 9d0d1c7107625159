"""`reviews insight` on a scope with nothing to read says which of two things is wrong: a category
that does not exist (a typo: name some that do), or one whose products have no review yet."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from marketpilot.analytics.reviews.insight import review_insight
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import NotFoundError


@pytest.fixture
def shop(settings: Settings) -> Settings:
    """手机 has reviews, 手机壳 and 耳机 have products but none, 电脑 has two reviews."""
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3", "P4", "P5"],
            "name": ["手机A", "手机B", "手机壳A", "手机壳B", "笔记本"],
            "category": ["手机", "手机", "手机壳", "手机壳", "电脑"],
        }
    )
    reviews = pd.DataFrame(
        {
            "review_id": ["r1", "r2", "r3", "r4", "r5"],
            "product_id": ["P1", "P1", "P2", "P5", "P5"],
            "text": ["屏幕很清楚", "电池不耐用", "物流很快", "键盘手感好", "散热差"],
        }
    )
    with Store.open(settings) as store:
        store.upsert("products", products)
        store.upsert("reviews", reviews)
    return settings


def test_a_category_whose_products_have_no_review_is_told_apart(shop: Settings) -> None:
    with pytest.raises(NotFoundError) as caught:
        review_insight(shop, category="手机壳", use_llm=False)
    said = str(caught.value)
    assert "no reviews for category 手机壳: it has 2 product(s), none of which has a review" in said
    assert "the store's 5 reviews are of other products" in said
    assert "load its reviews: marketpilot load reviews FILE" in said and "no category" not in said


def test_a_product_without_reviews_is_told_from_an_unknown_one(shop: Settings) -> None:
    with pytest.raises(NotFoundError) as caught:
        review_insight(shop, product="P3", use_llm=False)
    said = str(caught.value)
    assert "no reviews for product P3: it is in the catalogue but has no review" in said
    assert "the store's 5 reviews are of other products" in said
    with pytest.raises(NotFoundError, match="no product 'P9' in the catalogue"):
        review_insight(shop, product="P9", use_llm=False)


def test_an_unknown_category_names_known_ones_near_misses_first(shop: Settings) -> None:
    with pytest.raises(NotFoundError) as caught:
        review_insight(shop, category="电脑包", use_llm=False)
    assert str(caught.value).startswith("no category '电脑包' in the catalogue")
    # the near miss 电脑 first, then the rest, most reviews first
    assert caught.value.hint == "known categories: 电脑 (2 reviews), 手机 (3 reviews), 手机壳 (0 reviews)"


def test_an_empty_catalogue_says_to_load_products(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="no category '手机' in the catalogue") as caught:
        review_insight(settings, category="手机", use_llm=False)
    assert caught.value.hint is not None and "load products first" in caught.value.hint


def test_the_cli_refuses_with_the_count(
    shop: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["marketpilot", "reviews", "insight", "--category", "手机壳", "--no-llm"]
    monkeypatch.setattr(sys, "argv", [*argv, "--home", str(shop.home)])
    assert run_app(app) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "it has 2 product(s), none of which has a review" in said
