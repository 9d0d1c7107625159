"""Chinese product reviews whose rating and wording follow each product's hidden quality.

A rating is the product's quality plus the reviewer's harshness plus noise, lowered when the item
was returned. The text is assembled from aspect phrases (质量, 物流, 价格, 客服, 包装, 尺码, 外观, 功能,
味道, 效果) of the rating's polarity; unhappy reviewers mostly complain about the product's weak
aspect, so aspect mining has something real to find.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketpilot.data.sample import vocab
from marketpilot.data.sample.calendar import ShopCalendar
from marketpilot.data.sample.catalogue import Catalogue
from marketpilot.data.sample.orders import Sales
from marketpilot.data.sample.people import Customers, customer_ids
from marketpilot.data.sample.reversals import Reversals
from marketpilot.data.sample.strings import fixed_ids, join, pick
from marketpilot.data.sample.tables import build

REVIEW_DIGITS = 10
BASE_REVIEW_RATE = 0.16
DEFAULT_TEXT_SHARE = 0.06  # of 5-star reviews: rated without writing anything
POSITIVE, MIXED, NEGATIVE = 0, 1, 2
POLARITY_NAMES = ("positive", "mixed", "negative")
MAX_ASPECTS = 3
WEAK_ASPECT_LEAD = 0.7  # share of complaints that name the product's weak aspect


class _Pool:
    """Phrase pools in one vocabulary, addressed by group; the empty string is the last entry so an
    unused slot is just its index."""

    def __init__(self, groups: list[tuple[str, ...]]) -> None:
        words: list[str] = []
        self.offset = np.zeros(len(groups), np.int64)
        self.size = np.zeros(len(groups), np.int64)
        for g, pool in enumerate(groups):
            self.offset[g], self.size[g] = len(words), len(pool)
            words.extend(pool)
        self.empty = len(words)
        words.append("")
        self.blank = np.array([w == "" for w in words])
        self.vocabulary = pa.array(words)

    def draw(self, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
        return self.offset[group] + np.floor(rng.random(group.size) * self.size[group]).astype(np.int64)


ASPECTS = list(vocab.ASPECT_PHRASES)
# Group of (aspect a, polarity p) is 2a + p, p = 1 for complaints.
PHRASES = _Pool([pool for name in ASPECTS for pool in vocab.ASPECT_PHRASES[name]])
OPENERS = _Pool([vocab.OPENERS[name] for name in POLARITY_NAMES])
CLOSERS = _Pool([vocab.CLOSERS[name] for name in POLARITY_NAMES])


def make_reviews(
    rng: np.random.Generator,
    cust: Customers,
    sales: Sales,
    reversals: Reversals,
    catalogue: Catalogue,
    calendar: ShopCalendar,
    first_review_number: int,
) -> pa.Table:
    line = np.flatnonzero(~reversals.cancelled[sales.line_order])
    product = sales.product[line]
    reviewer = sales.customer[sales.line_order[line]]
    returned = reversals.returned[line]
    latent = (
        1.5
        + 3.8 * catalogue.quality[product]
        + cust.harshness[reviewer]
        + rng.normal(0, 0.8, line.size)
        - 1.5 * returned
    )
    rating = np.clip(np.round(latent), 1, 5).astype(np.int64)
    # Very unhappy buyers and those who sent things back are keener to write.
    chance = BASE_REVIEW_RATE * cust.review_propensity[reviewer] * (1 + 0.5 * (rating <= 2) + 0.6 * returned)
    ts = sales.ts[sales.line_order[line]] + rng.integers(2 * 86400, 20 * 86400, line.size)
    keep = (rng.random(line.size) < chance) & (ts < calendar.days * 86400)
    product, reviewer, rating, ts = product[keep], reviewer[keep], rating[keep], ts[keep]

    text = _texts(rng, product, rating, catalogue)
    n = rating.size
    return build(
        "reviews",
        {
            "review_id": fixed_ids(
                "RV", np.arange(first_review_number, first_review_number + n), REVIEW_DIGITS
            ),
            "product_id": pick(catalogue.ids, product),
            "customer_id": customer_ids(cust.number[reviewer]),
            "rating": rating.astype(np.int32),
            "text": text,
            "language": pa.array(np.full(n, "zh")),
            "created_at": calendar.epoch + ts,
        },
    )


def _texts(
    rng: np.random.Generator, product: np.ndarray, rating: np.ndarray, catalogue: Catalogue
) -> pa.Array:
    n = rating.size
    polarity = np.where(rating >= 4, POSITIVE, np.where(rating == 3, MIXED, NEGATIVE))
    aspects = _aspects(rng, product, polarity, catalogue)

    # Slot polarity: all positive, all negative, or (mixed) one good point then one complaint.
    negative = np.zeros((n, MAX_ASPECTS), np.int64)
    negative[polarity == NEGATIVE] = 1
    negative[polarity == MIXED, 1:] = 1
    count = np.where(polarity == MIXED, 2, 1 + rng.binomial(MAX_ASPECTS - 1, 0.45, n))
    used = np.arange(MAX_ASPECTS)[None, :] < count[:, None]
    drawn = PHRASES.draw(rng, (2 * aspects + negative).ravel()).reshape(n, MAX_ASPECTS)
    slots = np.where(used, drawn, PHRASES.empty)

    opener = OPENERS.draw(rng, polarity)
    closer = CLOSERS.draw(rng, polarity)
    exclaim = (polarity != MIXED) & (rng.random(n) < 0.4)
    commas = pa.array(["", "，"])
    marks = pa.array(["", "。", "！"])
    text = join(
        pick(OPENERS.vocabulary, opener),
        pick(PHRASES.vocabulary, slots[:, 0]),
        pick(commas, used[:, 1].astype(np.int64)),
        pick(PHRASES.vocabulary, slots[:, 1]),
        pick(commas, used[:, 2].astype(np.int64)),
        pick(PHRASES.vocabulary, slots[:, 2]),
        pick(marks, 1 + exclaim),
        pick(CLOSERS.vocabulary, closer),
        pick(marks, np.where(CLOSERS.blank[closer], 0, 1 + exclaim)),
    )
    silent = (rating == 5) & (rng.random(n) < DEFAULT_TEXT_SHARE)
    return pc.if_else(pa.array(silent), vocab.DEFAULT_REVIEW, text)


def _aspects(
    rng: np.random.Generator, product: np.ndarray, polarity: np.ndarray, catalogue: Catalogue
) -> np.ndarray:
    """(n, MAX_ASPECTS) distinct aspects of the product's category; complaints lead with the
    product's weak aspect most of the time."""
    cats = vocab.CATEGORIES
    sizes = np.array([len(c.aspects) for c in cats])
    width = int(sizes.max())
    table = np.zeros((len(cats), width), np.int64)
    for k, cat in enumerate(cats):
        table[k, : sizes[k]] = [ASPECTS.index(a) for a in cat.aspects]
    # Walking the category's aspect list with a step coprime to its length gives distinct aspects.
    coprime = [[s for s in range(1, m) if gcd(s, m) == 1] or [1] for m in range(width + 1)]
    step_table = np.array([row + row[:1] * (width - len(row)) for row in coprime])
    step_count = np.array([len(row) for row in coprime])
    category = catalogue.category[product]
    size = sizes[category]
    n = product.size
    step = step_table[size, np.floor(rng.random(n) * step_count[size]).astype(np.int64)]
    start = np.floor(rng.random(n) * size).astype(np.int64)
    position = (start[:, None] + step[:, None] * np.arange(MAX_ASPECTS)[None, :]) % size[:, None]
    aspects = table[category[:, None], position]

    # Swap the weak aspect into the complaint slot, keeping the row's aspects distinct.
    weak = catalogue.weak_aspect[product]
    rows = np.flatnonzero((polarity != POSITIVE) & (rng.random(n) < WEAK_ASPECT_LEAD))
    slot = np.where(polarity[rows] == MIXED, 1, 0)
    displaced = aspects[rows, slot]
    lead = aspects[rows]
    lead = np.where(lead == weak[rows, None], displaced[:, None], lead)
    lead[np.arange(rows.size), slot] = weak[rows]
    aspects[rows] = lead
    return aspects
