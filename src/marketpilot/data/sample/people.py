"""Customers: public attributes, personal data (kept apart) and the hidden traits behind behaviour.

Traits follow the BG/NBD story that CLV models assume: each buyer purchases at a gamma-distributed
rate and may drop out after each purchase with a beta-distributed probability. Category tastes,
price sensitivity and favourite ("staple") products give segmentation and recommenders real signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketpilot.data.sample import vocab
from marketpilot.data.sample.calendar import ShopCalendar
from marketpilot.data.sample.choice import ProductChooser, row_choice
from marketpilot.data.sample.strings import digit_strings, fixed_ids, join, pick, with_nulls
from marketpilot.data.sample.tables import build

N_STAPLES = 3
MEAN_ORDERS_PER_YEAR = 12.0


def _by_channel(values: dict[str, float]) -> np.ndarray:
    return np.array([values[name] for name in vocab.ACQUISITION_CHANNELS])


def _by_tier(values: dict[int, float]) -> np.ndarray:
    """Indexable by city tier (1..4)."""
    return np.array([0.0] + [values[t] for t in sorted(values)])


# Share of sign-ups who ever buy: content platforms (抖音, 小红书) convert less.
BUYER_SHARE = _by_channel(
    {
        "天猫": 0.82,
        "京东": 0.82,
        "抖音": 0.62,
        "小红书": 0.5,
        "微信小程序": 0.72,
        "官网": 0.62,
        "拼多多": 0.8,
        "线下门店": 0.88,
    }
)
# Dropout multiplier: deal-driven channels churn faster, the shop's own channels keep customers.
DROPOUT_FACTOR = _by_channel(
    {
        "天猫": 1.0,
        "京东": 0.9,
        "抖音": 1.6,
        "小红书": 1.3,
        "微信小程序": 0.8,
        "官网": 0.7,
        "拼多多": 1.4,
        "线下门店": 0.6,
    }
)
# Purchase-rate multiplier by city tier: big-city customers order more often.
TIER_RATE_FACTOR = {1: 1.25, 2: 1.05, 3: 0.95, 4: 0.8}


@dataclass
class Customers:
    number: np.ndarray  # global customer number (id suffix)
    created_s: np.ndarray  # seconds since the calendar epoch
    city: np.ndarray
    acquisition: np.ndarray
    gender: np.ndarray  # index into vocab.GENDERS, -1 when not recorded
    birth_year: np.ndarray  # 0 when not recorded
    buyer: np.ndarray  # will ever purchase
    rate: np.ndarray  # purchases per operational day while active
    dropout: np.ndarray  # probability of leaving after each purchase
    price_sensitivity: np.ndarray  # 0..1
    staple_rate: np.ndarray  # how often a line is a re-buy of a favourite product
    basket: np.ndarray  # mean extra lines per order
    harshness: np.ndarray  # shifts the customer's ratings
    review_propensity: np.ndarray  # multiplier of the chance to write a review
    taste: np.ndarray  # (n, categories) cumulative category preferences
    staples: np.ndarray  # (n, N_STAPLES) favourite product indices

    @property
    def size(self) -> int:
        return int(self.number.size)

    @property
    def ids(self) -> pa.StringArray:
        return customer_ids(self.number)


def customer_ids(number: np.ndarray) -> pa.StringArray:
    return fixed_ids("C", number, 8)


def make_customers(
    rng: np.random.Generator,
    first_number: int,
    n: int,
    calendar: ShopCalendar,
    chooser: ProductChooser,
) -> Customers:
    # Sign-ups follow the shop calendar (campaign peaks) and a growing trend.
    growth = np.linspace(0.6, 1.4, calendar.days)
    weights = calendar.intensity * growth
    day = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right")
    day = np.minimum(day, calendar.days - 1)
    created_s = calendar.timestamps(rng, day)

    city_weights = np.array([vocab.TIER_WEIGHT[c[2]] for c in vocab.CITIES])
    city = rng.choice(len(vocab.CITIES), n, p=city_weights / city_weights.sum())
    acquisition = rng.choice(len(vocab.ACQUISITION_CHANNELS), n, p=np.array(vocab.ACQUISITION_WEIGHTS))
    gender = np.where(rng.random(n) < 0.04, -1, (rng.random(n) < 0.36).astype(int))
    birth = np.clip(np.round(rng.normal(1993, 8.5, n)), 1950, 2008).astype(int)
    birth_year = np.where(rng.random(n) < 0.1, 0, birth)

    tier = np.array([c[2] for c in vocab.CITIES])[city]
    # Richer cities and older customers care less about price; students (born 2000+) more.
    young = (birth_year >= 2000) * 0.1
    shift = _by_tier(vocab.TIER_PRICE_SENSITIVITY)[tier]
    price_sensitivity = np.clip(rng.beta(2.2, 2.2, n) + shift + young, 0.0, 1.0)
    rate_factor = _by_tier(TIER_RATE_FACTOR)[tier]

    taste = _category_taste(rng, gender, birth_year)
    # Favourites lean to what people re-buy (food, baby, beauty), in proportion to their tastes.
    replenish = np.array([c.replenish for c in vocab.CATEGORIES])
    staple_taste = np.diff(taste, axis=1, prepend=0.0) * replenish
    staple_taste = np.cumsum(staple_taste, axis=1) / staple_taste.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(n), N_STAPLES)
    staples = chooser.choose(
        rng, row_choice(rng, staple_taste[rows]), rng.integers(0, 12, rows.size), price_sensitivity[rows]
    )
    return Customers(
        number=np.arange(first_number, first_number + n, dtype=np.int64),
        created_s=created_s,
        city=city,
        acquisition=acquisition,
        gender=gender,
        birth_year=birth_year,
        buyer=rng.random(n) < BUYER_SHARE[acquisition],
        rate=rng.gamma(0.9, MEAN_ORDERS_PER_YEAR / 0.9 / 365.0, n) * rate_factor,
        dropout=np.minimum(rng.beta(1.0, 6.0, n) * DROPOUT_FACTOR[acquisition], 0.95),
        price_sensitivity=price_sensitivity,
        staple_rate=rng.beta(1.5, 4.0, n),
        basket=rng.gamma(2.0, 0.7, n),
        harshness=rng.normal(0, 0.4, n),
        review_propensity=rng.gamma(1.0, 1.0, n),
        taste=taste,
        staples=staples.reshape(n, N_STAPLES),
    )


def _category_taste(rng: np.random.Generator, gender: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Cumulative category preferences: a sparse Dirichlet draw around shop-wide popularity, tilted
    by gender and, for 母婴, by being of parenting age."""
    base = np.array([c.popularity for c in vocab.CATEGORIES])
    tilt = np.ones((gender.size, base.size))
    known = gender >= 0
    tilt[known] = np.array(vocab.GENDER_CATEGORY_TASTE)[gender[known]]
    baby = vocab.CATEGORIES.index(next(c for c in vocab.CATEGORIES if c.name == "母婴"))
    parent_age = (birth_year >= 1984) & (birth_year <= 1998)
    tilt[:, baby] *= np.where(parent_age, 1.8, 0.4)
    alpha = 2.0 * base * tilt
    draws = rng.gamma(alpha)
    draws += 1e-9  # a row of all-zero draws would have no defined preference
    return np.cumsum(draws, axis=1) / draws.sum(axis=1, keepdims=True)


def customer_table(c: Customers, calendar: ShopCalendar) -> pa.Table:
    n = c.size
    cities = pa.array([city[0] for city in vocab.CITIES])
    genders = pick(list(vocab.GENDERS), np.maximum(c.gender, 0))
    return build(
        "customers",
        {
            "customer_id": c.ids,
            "created_at": calendar.epoch + c.created_s,
            "country": pa.array(np.full(n, "CN")),
            "city": pick(cities, c.city),
            "acquisition_channel": pick(list(vocab.ACQUISITION_CHANNELS), c.acquisition),
            "gender": with_nulls(genders, c.gender < 0),
            "birth_year": pa.array(c.birth_year.astype(np.int32), mask=c.birth_year == 0),
            "is_guest": np.zeros(n, dtype=bool),
        },
    )


def pii_table(rng: np.random.Generator, c: Customers) -> pa.Table:
    """Fake names, mobile numbers, e-mails and addresses: the only personal data in the sample."""
    n = c.size
    names, pinyin = _names(rng, c.gender != 1)
    phone = join(_pick_any(rng, vocab.MOBILE_PREFIXES, n), digit_strings(rng, n, 8))
    return build(
        "customer_pii",
        {
            "customer_id": c.ids,
            "name": names,
            "phone": phone,
            "email": _emails(rng, pinyin),
            "address": _addresses(rng, c.city),
            "source_id": pa.nulls(n, pa.string()),
        },
    )


def _pick_any(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> pa.Array:
    return pick(list(options), rng.integers(0, len(options), n))


def _names(rng: np.random.Generator, female: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Chinese names (weighted surname + one or two gendered given-name characters) and their pinyin."""
    n = female.size
    weights = np.array(vocab.SURNAME_WEIGHTS)
    surname = rng.choice(len(vocab.SURNAMES), n, p=weights / weights.sum())
    # Female and male pools are concatenated so one take() serves both.
    pool = vocab.GIVEN_FEMALE + vocab.GIVEN_MALE
    offset = np.where(female, 0, len(vocab.GIVEN_FEMALE))
    size = np.where(female, len(vocab.GIVEN_FEMALE), len(vocab.GIVEN_MALE))
    first = offset + np.floor(rng.random(n) * size).astype(np.int64)
    second = offset + np.floor(rng.random(n) * size).astype(np.int64)
    two_chars = pa.array(rng.random(n) < 0.65)
    parts = []
    for part in (0, 1):  # 0: characters, 1: pinyin
        chars = [g[part] for g in pool]
        parts.append(
            join(
                pick([s[part] for s in vocab.SURNAMES], surname),
                pick(chars, first),
                pc.if_else(two_chars, pick(chars, second), ""),
            )
        )
    return parts[0], parts[1]


def _emails(rng: np.random.Generator, pinyin: pa.Array) -> pa.Array:
    """name + digits @ a common domain, or (about a third) a QQ number @qq.com."""
    n = len(pinyin)
    weights = np.array(vocab.EMAIL_DOMAIN_WEIGHTS)
    domain = pick(
        list(vocab.EMAIL_DOMAINS), rng.choice(len(vocab.EMAIL_DOMAINS), n, p=weights / weights.sum())
    )
    qq = pa.array(rng.random(n) < 0.3)
    qq_number = join(_pick_any(rng, [str(d) for d in range(1, 10)], n), digit_strings(rng, n, 8))
    local = pc.if_else(qq, qq_number, join(pinyin, digit_strings(rng, n, 3)))
    return join(local, "@", pc.if_else(qq, "qq.com", domain))


def _addresses(rng: np.random.Generator, city: np.ndarray) -> pa.Array:
    """省 市 区 路 号 小区 栋 单元 室, with a real district of the customer's city."""
    n = city.size
    n_districts = np.array([len(c[3]) for c in vocab.CITIES])
    district_start = np.cumsum(n_districts) - n_districts
    district = district_start[city] + np.floor(rng.random(n) * n_districts[city]).astype(np.int64)
    return join(
        pick([c[1] for c in vocab.CITIES], city),
        pick([f"{c[0]}市" for c in vocab.CITIES], city),
        pick([d for c in vocab.CITIES for d in c[3]], district),
        _pick_any(rng, vocab.ROADS, n),
        _pick_any(rng, [str(i) for i in range(1, 1000)], n),
        "号",
        _pick_any(rng, vocab.COMMUNITIES, n),
        _pick_any(rng, [str(i) for i in range(1, 40)], n),
        "栋",
        _pick_any(rng, [str(i) for i in range(1, 7)], n),
        "单元",
        _pick_any(rng, [f"{f}{r:02d}" for f in range(1, 34) for r in range(1, 7)], n),
        "室",
    )
