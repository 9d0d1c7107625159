"""A brief: everything the copy may say, and nothing about any single customer.

Generation runs once per brief (segment × product × channel); guardrails check every number in the
copy against the brief. Money here is in major units (399.0 = ¥399) because that is how copy and
brief files write it; `ProductFacts.from_row` converts from the store's minor units.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from marketpilot.content.numbers import CN_NUMERAL_CHARS, parse_fold, parse_number
from marketpilot.data.money import to_major
from marketpilot.data.readers import existing_file
from marketpilot.errors import UserError, ValidationFailed

Channel = Literal["sms", "push", "email_subject", "email_body", "banner", "product_title", "social_post"]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
Language = Literal["zh", "en"]
Angle = Literal["benefit", "scarcity", "social_proof", "seasonal"]

_FOLD = re.compile(r"^\s*(\d+(?:\.\d+)?|[零一二两三四五六七八九]{1,2})\s*折\s*$")  # 8折, 85折, 八五折
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*(?:off)?\s*$", re.IGNORECASE)


def parse_discount(value: float | str | None) -> float | None:
    """A discount as the fraction taken off: 0.2, "20%", "20% off" and "8折" mean 20 % off, "半价" 50 %."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float):
        raise ValueError(f"cannot read discount {value!r}; use 0.2, '20%' or '8折'")
    if value == "半价":
        return 0.5
    if isinstance(value, str) and _NUMBER.match(value):  # "0.2" from a command-line flag
        value = float(value)
    if isinstance(value, int | float):
        off = float(value)
        # 20 means 20 % off; 0.2 means the same.
        off = off / 100 if off > 1 else off
    elif m := _FOLD.match(value):
        fold = parse_fold(m.group(1)) or 0.0
        # "85折" is 8.5折 (15 % off), "8折" is 20 % off.
        off = 1 - (fold / 100 if fold >= 10 else fold / 10)
    elif m := _PERCENT.match(value):
        off = float(m.group(1)) / 100
    else:
        raise ValueError(f"cannot read discount {value!r}; use 0.2, '20%' or '8折'")
    if not 0 < off < 1:
        raise ValueError(f"discount {value!r} must take off between 0 and 100 %")
    return round(off, 6)


_AMOUNT = rf"\d+(?:\.\d+)?|[{CN_NUMERAL_CHARS}]+"  # 300 or 三百
_COUPON = re.compile(
    rf"^\s*(?:满\s*(?P<t>{_AMOUNT})\s*元?\s*减|(?P<t2>\d+(?:\.\d+)?)\s*-\s*|立减|减)?"
    rf"\s*(?P<a>{_AMOUNT})\s*元?\s*$"
)


def parse_coupon(value: str) -> tuple[float | None, float]:
    """(threshold, amount) of a coupon written as "满300减50", "300-50", "立减30" or "30"."""
    m = _COUPON.match(value)
    threshold = m and (m.group("t") or m.group("t2"))
    amount = m and parse_number(m.group("a"))
    if not m or not amount or (threshold and not parse_number(threshold)):
        raise ValueError(f"cannot read coupon {value!r}; use 满300减50, 300-50 or an amount such as 30")
    return (parse_number(threshold) if threshold else None), amount


# A brief file is written by hand: currency names a person would write for the ISO code.
_CURRENCY_ALIASES = {"RMB": "CNY", "人民币": "CNY", "元": "CNY", "¥": "CNY", "￥": "CNY", "$": "USD"}


class ProductFacts(BaseModel):
    """What is true about the product. Prices in major units of `currency`."""

    # JSON brief files may say Infinity or NaN, which no price is
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    product_id: str | None = None
    name: str
    category: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    price: float | None = Field(default=None, gt=0)
    promo_price: float | None = Field(default=None, gt=0)
    discount: float | None = None  # fraction off, e.g. 0.2 for 8折
    currency: str = "CNY"
    stock: int | None = Field(default=None, ge=0)
    selling_points: list[str] = Field(default_factory=list)
    medical: bool = False  # a registered medical product may make efficacy claims

    @field_validator("discount", mode="before")
    @classmethod
    def _discount(cls, value: Any) -> float | None:
        return parse_discount(value)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> dict[str, str]:
        if value is None or value == "":
            return {}
        if isinstance(value, str):  # the store keeps attributes as a JSON object string
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError(f"attributes must be an object of name: value (面料: 羊毛), got {value!r}")
        return {str(k): str(v) for k, v in value.items()}

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        code = _CURRENCY_ALIASES.get(value.strip().upper(), value.strip().upper())
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"currency {value!r} is not a three-letter ISO code such as CNY or USD")
        return code

    @model_validator(mode="after")
    def _promo_below_price(self) -> ProductFacts:
        if self.price and self.promo_price and self.promo_price > self.price:
            raise ValueError(f"promo_price {self.promo_price} is above price {self.price}")
        if self.price and self.promo_price and self.discount:
            # Both would pass the facts check, so copy saying "8折，到手199" of 229 would pass while false.
            implied = 1 - self.promo_price / self.price
            if abs(implied - self.discount) > 0.011:  # the facts rule's tolerance (RATE_TOL)
                raise ValueError(
                    f"discount {self.discount:.0%} off contradicts promo_price {self.promo_price:g} of price "
                    f"{self.price:g} ({implied:.0%} off); give one of them, or make them agree"
                )
        return self

    @property
    def sale_price(self) -> float | None:
        """The price a buyer pays before coupons: promo price, else price less discount, else price."""
        if self.promo_price:
            return self.promo_price
        if self.price and self.discount:
            return round(self.price * (1 - self.discount), 2)
        return self.price

    @property
    def off_fraction(self) -> float | None:
        """The discount as a fraction off, given or implied by promo_price."""
        if self.discount:
            return self.discount
        if self.price and self.promo_price and self.promo_price < self.price:
            return round(1 - self.promo_price / self.price, 6)
        return None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProductFacts:
        """From a `products` table row (minor units)."""

        def major(v: Any) -> float | None:
            return None if v is None or v != v else to_major(int(v), row.get("currency"))

        return cls(
            product_id=str(row["product_id"]),
            name=str(row["name"]),
            category=row.get("category") or None,
            attributes=row.get("attributes") or {},
            price=major(row.get("price_minor")),
            currency=row.get("currency") or "CNY",
            stock=None if row.get("stock") is None or row["stock"] != row["stock"] else int(row["stock"]),
        )


# A brief's promotion and brand words are phrases (双11, Black Friday, DOUBLE11, 暖冬), each passed to
# the prompt word for word: a longer one is refused, from an API request and a CLI flag alike.
MAX_PHRASE = 40
MAX_WORDS = 20  # required or forbidden words: a shop's list, not a dictionary
MAX_SHOP_NAME = 20  # the SMS signature 【shop_name】, as a campaign spec's shop_name
Phrase = Annotated[str, Field(max_length=MAX_PHRASE)]


class Offer(BaseModel):
    """The promotion: a coupon (满threshold减amount or a plain amount), a buy-N-get-M deal or a discount
    on the N-th item, a start and a deadline."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    coupon_code: Phrase | None = None
    coupon_amount: float | None = Field(default=None, gt=0)
    coupon_threshold: float | None = Field(default=None, gt=0)
    buy_n: int | None = Field(default=None, gt=0)
    get_m: int | None = Field(default=None, gt=0)
    # fraction off the buy_n-th item: 第2件半价 is buy_n=2, nth_discount=0.5 (also "半价", "5折", "50%")
    nth_discount: float | None = None
    limit: int | None = Field(default=None, gt=0)  # units available at this price (限量)
    starts: date | None = None
    deadline: date | datetime | None = None

    @field_validator("nth_discount", mode="before")
    @classmethod
    def _nth_discount(cls, value: Any) -> float | None:
        return parse_discount(value)

    @model_validator(mode="after")
    def _nth_needs_buy_n(self) -> Offer:
        if self.nth_discount is not None and self.buy_n is None:
            raise ValueError("nth_discount needs buy_n, the item it applies to (第2件半价: buy_n=2)")
        if self.coupon_amount and self.coupon_threshold and self.coupon_amount >= self.coupon_threshold:
            raise ValueError(
                f"a coupon of {self.coupon_amount:g} off a {self.coupon_threshold:g} spend gives the goods "
                "away: the amount must be below the threshold (满300减50)"
            )
        return self

    @property
    def deadline_date(self) -> date | None:
        if isinstance(self.deadline, datetime):
            return self.deadline.date()
        return self.deadline


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str = "all"
    persona: str | None = None  # a short description of the segment, never a person


class BrandVoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_name: str | None = None  # the SMS signature 【shop_name】
    required_words: list[str] = Field(default_factory=list)
    forbidden_words: list[str] = Field(default_factory=list)
    tone: str | None = None


class Brief(BaseModel):
    """One generation unit. Accepts a flat file too: product keys at the top level are lifted."""

    model_config = ConfigDict(extra="forbid")

    product: ProductFacts
    audience: Audience = Field(default_factory=Audience)
    language: Language = "zh"
    channel: Channel = "sms"
    goal: str = "conversion"
    tone: str | None = None
    brand: BrandVoice = Field(default_factory=BrandVoice)
    offer: Offer = Field(default_factory=Offer)
    season: str | None = None  # a seasonal hook the copy may use: 双11, 春节, 618, Black Friday

    @model_validator(mode="before")
    @classmethod
    def _lift_flat_product(cls, data: Any) -> Any:
        if isinstance(data, dict) and "product" not in data:
            product_keys = set(ProductFacts.model_fields)
            data = dict(data)
            data["product"] = {k: data.pop(k) for k in list(data) if k in product_keys}
        return data

    @property
    def key(self) -> str:
        """Identifies the generation unit: segment × product × channel × language."""
        pid = self.product.product_id or self.product.name
        return f"{self.audience.segment}|{pid}|{self.channel}|{self.language}"


def load_brief(path: Path | str) -> Brief:
    """Read a brief JSON file; errors name the file and the field."""
    path = Path(path)
    data = existing_file(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Windows tools in China save GBK; GB18030 is its superset
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: neither UTF-8 nor GBK text ({exc})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError:
        raise UserError(f"{path}: not a brief (JSON nested too deeply to read)") from None
    try:
        return Brief.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailed(problems, source=str(path)) from exc
