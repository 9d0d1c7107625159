"""The campaign spec: what a marketer approves. YAML on disk, pydantic in code, versioned.

`spec_version` is the schema version of the file format (bumped when fields change meaning); each saved
edit of one campaign is a separate row in `campaign_versions`, numbered 1, 2, …
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from marketpilot.content.briefs import MAX_PHRASE
from marketpilot.data.readers import existing_file
from marketpilot.errors import UserError, ValidationFailed

SPEC_VERSION = "1"
Goal = Literal["reactivation", "cross_sell", "new_product_launch", "festival_promotion"]
GOALS: tuple[str, ...] = Goal.__args__  # type: ignore[attr-defined]
ChannelName = Literal["email", "sms", "push", "webhook", "export"]
SuccessMetric = Literal["conversion_rate", "revenue_per_customer", "click_rate"]
# Variant weights are relative shares of traffic; beyond this one arm takes everything, and a couple of
# weights near the float limit overflow their sum (assign.py divides by it) into inf.
MAX_WEIGHT = 1e6
# Text a spec holds, bounded as the API's and the brief's fields are (docs/api.md, Request limits), so
# that a spec posted to /v1/campaigns or written by hand cannot carry a pasted file into the state
# database, every plan and every prompt. A name or id is looked up, not read: 100 characters hold any
# SKU, customer id, segment or category. A coupon code or an angle is a brief's phrase (MAX_PHRASE).
# An offer in words is a sentence or two, bounded like a goal (planner.MAX_GOAL). Copy: five times the
# longest channel's 2,000 characters; longer copy is a pasted document.
MAX_ID = 100
# A category is the shop's own name for it, copied from its catalogue: a marketplace path ("Home &
# Kitchen > Kitchen & Dining > …") can pass 100 characters; 500 is the brief's limit for one.
MAX_CATEGORY = 500
MAX_OFFER_TEXT = 2_000
MAX_COPY = 10_000
Id = Annotated[str, Field(max_length=MAX_ID)]
Category = Annotated[str, Field(max_length=MAX_CATEGORY)]


def _not_bool(value: object) -> object:
    # pydantic's lax mode reads JSON `true` and YAML `yes` as 1: a weight of 1.0, a budget of one message.
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a yes/no value, not a number: write the number")
    return value


# Numbers in a spec: anything pydantic reads as a number except a boolean (numeric text from YAML still
# reads; pydantic's Strict() would also refuse numpy integers the planners pass).
Number = Annotated[float, BeforeValidator(_not_bool)]
Count = Annotated[int, BeforeValidator(_not_bool)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Band(_Strict):
    """A closed numeric interval; either end may be open (None)."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class CategoryPurchase(_Strict):
    """Customers with a completed purchase in any of the categories (`match: all`: in every one of
    them), optionally within the last `within_days` days (counted back from the last purchase day, as
    intel counts recency_days), or each category within its own days (`windows`). A sale its returns
    wholly undo is no purchase (analytics/purchases.py). As `not_bought`, the customers the same rule
    as `bought` leaves out: with `any`, those who bought none of them; with `all`, those who did not buy
    every one."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    categories: list[Category] = Field(min_length=1, description="Product category or sub-category names")
    within_days: Count | None = Field(default=None, gt=0, description="Bought within this many days")
    # "30天内买过美妆、60天内买过服饰的": each category keeps the days the goal wrote for it.
    windows: dict[Category, Annotated[Count, Field(gt=0)]] | None = Field(
        default=None, description="Days for single categories, in place of within_days: {美妆: 30, 服饰: 60}"
    )
    # "买过服饰且买过美妆的", "bought both shoes and socks": one rule, each category bought.
    match: Literal["any", "all"] = Field(
        default="any", description="any: bought one of the categories; all: bought each of them"
    )

    @model_validator(mode="after")
    def _windows_of_listed_categories(self) -> CategoryPurchase:
        unlisted = [name for name in self.windows or {} if name not in self.categories]
        if unlisted:
            raise ValueError(f"windows names {', '.join(unlisted)}, which categories does not list")
        return self

    def by_window(self) -> dict[int | None, list[str]]:
        """The categories grouped by their window in days (None: bought ever), in the listed order."""
        groups: dict[int | None, list[str]] = {}
        for name in self.categories:
            groups.setdefault((self.windows or {}).get(name, self.within_days), []).append(name)
        return groups


class BrowseRule(_Strict):
    """Customers with a behaviour event of the rule's type in the store's `events` (`viewed`: view,
    `carted`: cart) of a product in any of the categories (any product when none is named), optionally
    within the last `within_days` days (counted back from the last event day). `without_purchase`
    ("浏览过但没购买的", abandoned carts): only events whose product the customer did not buy on the
    event's day or later; viewing A and buying B, or buying A before viewing it again, leaves A not
    bought (campaigns/audience.py)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    categories: list[Category] = Field(
        default_factory=list, description="Product category or sub-category names; empty = any product"
    )
    within_days: Count | None = Field(default=None, gt=0, description="Within this many days")
    without_purchase: bool = Field(
        default=False, description="Only events whose product was not bought on that day or later"
    )


class AudienceRules(_Strict):
    """Who is eligible, in terms of intel's outputs (see campaigns/audience.py for the columns)."""

    # intel labels segments with cluster numbers and shops number their customers: `segments: [1, 2]`
    # and `include: [10001]` mean the labels and ids "1", "2", "10001".
    model_config = ConfigDict(coerce_numbers_to_str=True)

    segments: list[Id] = Field(default_factory=list, description="Segment names; empty = any")
    rfm_classes: list[Id] = Field(default_factory=list, description="RFM classes; empty = any")
    propensity: Band | None = Field(default=None, description="Purchase probability, 0–1")
    churn: Band | None = Field(default=None, description="Churn probability, 0–1")
    clv: Band | None = Field(default=None, description="Predicted CLV in major currency units")
    clv_percentile: Band | None = Field(
        default=None,
        description="Share of the customers in intel's CLV table with a lower CLV: {min: 0.8} = top 20%",
    )
    recency_days: Band | None = Field(default=None, description="Days since the last order")
    bought: CategoryPurchase | None = Field(
        default=None, description="Bought in one of the categories, or in each (match: all) (in N days)"
    )
    not_bought: CategoryPurchase | None = Field(
        default=None,
        description="Bought in none of the categories, or not in each (match: all) (in the last N days)",
    )
    viewed: BrowseRule | None = Field(default=None, description="Viewed products (in N days)")
    carted: BrowseRule | None = Field(default=None, description="Added products to the cart (in N days)")
    include: list[Id] = Field(default_factory=list, description="Customer ids always included")
    exclude: list[Id] = Field(default_factory=list, description="Customer ids never included")

    @field_validator("propensity", "churn", "clv_percentile")
    @classmethod
    def _unit_interval(cls, band: Band | None) -> Band | None:
        for end in (band.min, band.max) if band else ():
            if end is not None and not 0 <= end <= 1:
                raise ValueError(f"{end} is outside 0–1 (a probability or share: 0.6, not 60)")
        return band

    @field_validator("recency_days")
    @classmethod
    def _days(cls, band: Band | None) -> Band | None:
        for end in (band.min, band.max) if band else ():
            if end is not None and end < 0:
                raise ValueError(f"{end} days is negative (days since the last order: 0 or more)")
        return band


class Offer(_Strict):
    description: str = Field(default="", max_length=MAX_OFFER_TEXT)
    product_ids: list[Id] = Field(default_factory=list)
    discount: Number | None = Field(default=None, gt=0, lt=1, description="Fraction off, 0.2 = 8折")
    coupon_code: str | None = Field(default=None, max_length=MAX_PHRASE)
    # 满 coupon_threshold 减 coupon_amount (a plain amount off without a threshold); copy quotes them
    # and the guardrails hold it to them.
    coupon_threshold: Number | None = Field(default=None, gt=0, description="Spend needed, major units")
    coupon_amount: Number | None = Field(default=None, gt=0, description="Amount off, major units")
    break_even_lift: Number | None = Field(
        default=None, ge=0, description="Relative lift the offer needs to pay for itself (decide promo)"
    )
    cost_per_conversion: Number = Field(default=0.0, ge=0, description="Offer cost per redemption")

    @model_validator(mode="after")
    def _coupon_below_threshold(self) -> Offer:
        if self.coupon_threshold is not None and self.coupon_amount is None:
            raise ValueError("coupon_threshold needs a coupon_amount (满300减50: threshold 300, amount 50)")
        if self.coupon_threshold and self.coupon_amount and self.coupon_amount >= self.coupon_threshold:
            raise ValueError(f"coupon_amount {self.coupon_amount} is not below the threshold")
        return self

    @property
    def depth(self) -> float:
        """Share of the price given away: the discount, or a coupon's amount over its threshold."""
        if self.discount:
            return self.discount
        if self.coupon_amount and self.coupon_threshold:
            return self.coupon_amount / self.coupon_threshold
        return 0.0


class Variant(_Strict):
    """One copy variant. `text` may use render-time slots such as {name} or {product}."""

    key: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    text: str | None = Field(default=None, max_length=MAX_COPY)
    subject: str | None = Field(default=None, max_length=MAX_COPY)
    weight: Number = Field(default=1.0, gt=0, le=MAX_WEIGHT)
    angle: str | None = Field(default=None, max_length=MAX_PHRASE)
    # Text a model wrote (optimize carries model-written and rewritten copy into the next version): it
    # keeps the AIGC metadata China's labelling measures require; hand-written text carries none.
    ai_generated: bool = False
    # An arm's own offer (a coupon depth under test) in place of the campaign's: its copy is held to
    # it, its conversions cost it, and the report says whether it paid against the shared holdout.
    offer: Offer | None = None

    @model_validator(mode="before")
    @classmethod
    def _weight_in_range(cls, data: object) -> object:
        # Before the field check, so the message names the variant, not only its list index.
        if not isinstance(data, dict) or "weight" not in data:
            return data
        if isinstance(data["weight"], bool):  # JSON true, YAML yes: lax pydantic made it 1.0
            raise ValueError(
                f"variant {data.get('key')!r}: weight {str(data['weight']).lower()} is a yes/no value, "
                "not a number (weights are relative: 1 and 3 split traffic 25/75)"
            )
        try:
            weight = float(data["weight"])
        except (TypeError, ValueError):
            return data  # not a number: the field check says so
        if not (math.isfinite(weight) and 0 < weight <= MAX_WEIGHT):
            raise ValueError(
                f"variant {data.get('key')!r}: weight {data['weight']!r} must be a finite number above 0 "
                f"and at most {MAX_WEIGHT:g} (weights are relative: 1 and 3 split traffic 25/75)"
            )
        return data

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, key: str) -> str:
        if key == "holdout":
            raise ValueError("'holdout' is reserved for the control group")
        return key


class ChannelPlan(_Strict):
    name: ChannelName
    cost: Number = Field(default=0.0, ge=0, description="Cost per message in major currency units")
    variants: list[Variant] = Field(default_factory=list)
    # Sent to customers who opted out of personalisation (PIPL Art. 24); no per-customer slots.
    generic: Variant | None = None

    @field_validator("variants")
    @classmethod
    def _unique_keys(cls, variants: list[Variant]) -> list[Variant]:
        keys = [v.key for v in variants]
        if len(keys) != len(set(keys)):
            raise ValueError(f"variant keys must be unique, got {keys}")
        return variants


class Schedule(_Strict):
    send_at: dt.datetime | None = Field(default=None, description="Earliest send time; None = now")
    timezone: str = Field(default="Asia/Shanghai", max_length=MAX_ID)
    quiet_start: dt.time = dt.time(22, 0)
    quiet_end: dt.time = dt.time(8, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)") from None
        return name

    @field_validator("quiet_start", "quiet_end", mode="before")
    @classmethod
    def _not_a_number(cls, value: object) -> object:
        # pydantic reads a number as seconds after midnight: 1320 (what YAML 1.1 makes of 22:00) would
        # silently become 00:22 UTC.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f'{value!r} is not a clock time: write it as text, e.g. "22:00"')
        return value

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _wall_clock(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("quiet hours are wall-clock times in schedule.timezone: drop the zone (22:00)")
        return value

    @model_validator(mode="after")
    def _aware_send_at(self) -> Schedule:
        # A send time without a zone is a wall-clock time where the customers are, not the server's.
        if self.send_at is not None and self.send_at.tzinfo is None:
            self.send_at = self.send_at.replace(tzinfo=self.zone)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def in_quiet_hours(self, when: dt.datetime) -> bool:
        local = when.astimezone(self.zone).time()
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def next_send_time(self, now: dt.datetime) -> dt.datetime:
        """The first moment at or after max(now, send_at) outside quiet hours (aware, UTC)."""
        start = max(now, self.send_at.astimezone(dt.UTC)) if self.send_at else now
        if not self.in_quiet_hours(start):
            return start.astimezone(dt.UTC)
        local = start.astimezone(self.zone)
        end = local.replace(
            hour=self.quiet_end.hour,
            minute=self.quiet_end.minute,
            second=self.quiet_end.second,
            microsecond=0,
        )
        if end <= local:
            end += dt.timedelta(days=1)
        return end.astimezone(dt.UTC)


class Caps(_Strict):
    max_messages: Count | None = Field(default=None, gt=0, description="Budget: messages this run")
    frequency_max: Count = Field(default=2, gt=0, description="Messages per customer per window")
    frequency_window_days: Count = Field(default=7, gt=0)


class CampaignSpec(_Strict):
    spec_version: Literal["1"] = SPEC_VERSION
    name: str = Field(min_length=1, max_length=200)
    goal: Goal
    language: Literal["zh", "en"] = "zh"
    shop_name: str | None = Field(default=None, max_length=20, description="SMS signature 【shop_name】")
    audience: AudienceRules = Field(default_factory=AudienceRules)
    offer: Offer = Field(default_factory=Offer)
    channels: list[ChannelPlan] = Field(min_length=1)
    schedule: Schedule = Field(default_factory=Schedule)
    caps: Caps = Field(default_factory=Caps)
    holdout_share: Number = Field(default=0.10, ge=0.0, lt=1.0)
    assignment: Literal["fixed", "thompson"] = "fixed"
    success_metric: SuccessMetric = "conversion_rate"
    # False: existing customers may be contacted until they revoke; True: explicit opt-in needed.
    consent_required: bool = False
    attribution_window_days: Count = Field(default=14, gt=0)
    channel_overrides: dict[Id, ChannelName] = Field(
        default_factory=dict, description="customer id → channel, wins over the automatic choice"
    )

    @model_validator(mode="after")
    def _channels_consistent(self) -> CampaignSpec:
        names = [c.name for c in self.channels]
        if len(names) != len(set(names)):
            raise ValueError(f"each channel may appear once, got {names}")
        unknown = set(self.channel_overrides.values()) - set(names)
        if unknown:
            raise ValueError(f"channel_overrides name channels not in the campaign: {sorted(unknown)}")
        return self

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("the name is blank")
        return name.strip()

    def channel(self, name: str) -> ChannelPlan:
        for plan in self.channels:
            if plan.name == name:
                return plan
        raise KeyError(name)

    @model_validator(mode="after")
    def _one_offer_per_arm(self) -> CampaignSpec:
        # An arm is a variant key across channels: a customer in arm "deep" gets one offer everywhere.
        seen: dict[str, Offer | None] = {}
        for plan in self.channels:
            for variant in plan.variants:
                if variant.key in seen and seen[variant.key] != variant.offer:
                    raise ValueError(f"variant {variant.key!r} has different offers on different channels")
                seen[variant.key] = variant.offer
        return self

    def offer_for(self, arm: str) -> Offer:
        """The offer customers of `arm` get: the arm's own, else the campaign's."""
        for plan in self.channels:
            for variant in plan.variants:
                if variant.key == arm and variant.offer is not None:
                    return variant.offer
        return self.offer

    @property
    def arms(self) -> list[str]:
        """The spec's variant keys, each once, in the order they first appear."""
        return list(dict.fromkeys(v.key for plan in self.channels for v in plan.variants))

    @property
    def has_arm_offers(self) -> bool:
        return any(v.offer is not None for plan in self.channels for v in plan.variants)

    def break_evens(self) -> dict[str, float]:
        """The relative lift each offer needs to pay: per arm when arms carry their own offers,
        else {"treatment": …} for the campaign's offer on all arms pooled."""
        if not self.has_arm_offers:
            be = self.offer.break_even_lift
            return {} if be is None else {"treatment": be}
        return {k: be for k in self.arms if (be := self.offer_for(k).break_even_lift) is not None}

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False
        )


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _SpecLoader(yaml.SafeLoader):
    """YAML as a marketer writes it. PyYAML follows YAML 1.1, where `quiet_start: 22:00` is the
    base-60 number 1320 and `include: [00123]` the octal 83: here both stay text, as in YAML 1.2.
    A key written twice is an error instead of the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key_node.tag != "tag:yaml.org,2002:merge":
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, f"key {key!r} appears twice",
                        key_node.start_mark,
                    )  # fmt: skip
                seen.add(key)
        return super().construct_mapping(node, deep)


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?(?:0|[1-9][0-9_]*))$"),
    list("-+0123456789"),
)
_SpecLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def parse_spec(data: dict | str, *, source: str = "spec") -> CampaignSpec:
    """A spec from YAML text or a dict; every schema problem is reported with its field path."""
    if isinstance(data, str):
        try:
            data = yaml.load(data, Loader=_SpecLoader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            tabs = "'\\t'" in str(exc)
            hint = "Indent with spaces: YAML does not allow tabs." if tabs else None
            raise UserError(f"{source}: not valid YAML: {exc}", hint=hint) from exc
    if not isinstance(data, dict):
        raise UserError(f"{source}: a campaign spec must be a YAML mapping")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailed(
            problems, source=source, hint="See docs/campaigns.md for the spec format."
        ) from None


def load_spec(path: Path) -> CampaignSpec:
    raw = existing_file(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    return parse_spec(text, source=str(path))
