"""YAML mappings from any export's columns to the canonical columns, and the SQL they compile to.

    table: orders                  # or `tables: {orders: {...}, order_items: {...}}`
    currency: CNY                  # default for *_minor columns and `currency`
    columns:
      order_id: 订单编号            # a plain string = the source column
      ordered_at: {from: 下单时间, format: "%Y/%m/%d %H:%M"}
      total_minor: {from: 实付金额}          # money in major units (元) → minor units (分)
      status: {from: 订单状态, values: {交易成功: completed, 交易关闭: cancelled}}
      channel: {value: 天猫}                 # a constant
      line_no: {line_number_within: order_id}  # 1, 2, … per order in file order
      customer_id: {from: 买家会员名, personal: true}  # account names → pseudonymous keys

Without a mapping, columns are matched by canonical name or a zh/en alias (see ALIASES).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marketpilot.data.money import currency_sql, minor_digits, scale_sql
from marketpilot.data.readers import LINE, ROW, Source
from marketpilot.data.schema import TABLES, Column, TableSpec
from marketpilot.data.validate import Check, ident, sql_literal
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.pseudonymise import PII_HEADERS, normalise_header, pii_kind_of_header

PII_FIELDS = ("name", "phone", "email", "address")

ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "customer", "userid", "buyerid", "memberid", "客户id", "客户编号",
                    "会员id", "会员编号", "用户id", "买家id", "买家会员名", "买家昵称"),
    "order_id": ("orderid", "orderno", "ordernumber", "invoiceno", "invoice", "订单号", "订单编号", "订单id"),
    "ordered_at": ("orderdate", "ordertime", "createdat", "date", "下单时间", "订单创建时间", "创建时间",
                   "付款时间", "成交时间"),
    "product_id": ("sku", "itemid", "stockcode", "productcode", "商品id", "商品编码", "商品编号", "货号",
                   "宝贝id"),
    "quantity": ("qty", "lineitemquantity", "数量", "购买数量", "商品数量", "件数"),
    "unit_price_minor": ("unitprice", "price", "lineitemprice", "单价", "商品单价", "价格"),
    "price_minor": ("price", "售价", "价格", "单价"),
    "cost_minor": ("cost", "成本", "成本价"),
    "total_minor": ("total", "amount", "ordertotal", "订单金额", "实付金额", "实付款", "支付金额", "金额"),
    "discount_minor": ("discount", "discountamount", "优惠金额", "折扣金额"),
    "currency": ("币种", "货币"),
    "status": ("orderstatus", "financialstatus", "订单状态", "状态", "交易状态"),
    "channel": ("source", "saleschannel", "渠道", "来源", "销售渠道"),
    "country": ("国家", "国家地区"),
    "city": ("城市", "市", "收货城市"),
    "category": ("类目", "分类", "品类", "商品类目", "producttype"),
    "subcategory": ("子类目", "二级类目"),
    "brand": ("vendor", "品牌"),
    "stock": ("inventory", "库存"),
    "description": ("描述", "商品描述", "bodyhtml"),
    "created_at": ("signupdate", "registeredat", "注册时间", "创建时间", "reviewdate", "评价时间",
                   "评论时间"),
    "acquisition_channel": ("注册渠道", "获客渠道"),
    "gender": ("sex", "性别"),
    "birth_year": ("出生年份",),
    "event_type": ("behavior", "behaviortype", "action", "行为", "行为类型"),
    "occurred_at": ("timestamp", "eventtime", "time", "时间", "行为时间"),
    "session_id": ("session", "会话id"),
    "rating": ("stars", "score", "评分", "星级"),
    "text": ("review", "comment", "content", "body", "评价", "评价内容", "评论", "评论内容", "内容"),
    "language": ("lang", "语言"),
    "review_id": ("评价id", "评论id"),
    "event_id": ("事件id",),
    "name": ("title", "productname", "商品名称", "商品标题", "宝贝标题", "品名", "名称"),
}  # fmt: skip


class ColumnRule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | None = Field(default=None, alias="from")
    value: str | int | float | bool | None = None
    format: str | None = None
    # Numeric dates such as 05/03/2024: day first (true) or month first (false); unset, the column
    # decides (a first number above 12 anywhere makes it day first; see data/dates.py).
    day_first: bool | None = None
    unit: Literal["major", "minor"] = "major"
    values: dict[str, str] | None = None
    line_number_within: str | None = None
    # Only for customer_id: true when the ids name people (account names, nicknames), false when they
    # are opaque codes; unset, each id is judged by its shape (see privacy.pseudonymise).
    personal: bool | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnRule:
        origins = sum(x is not None for x in (self.source, self.value, self.line_number_within))
        if origins != 1:
            raise ValueError("give exactly one of `from`, `value` or `line_number_within`")
        return self


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: dict[str, ColumnRule]
    # Exports such as Shopify repeat order-level fields on every line: `first` keeps, per key, the first
    # non-empty value of each column instead of treating the repetition as duplicate keys.
    duplicates: Literal["error", "first"] = "error"

    @model_validator(mode="before")
    @classmethod
    def _plain_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("columns"), dict):
            cols = {k: {"from": v} if isinstance(v, str) else v for k, v in data["columns"].items()}
            data = {**data, "columns": cols}
        return data


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: dict[str, TableMapping]
    currency: str | None = None
    encoding: str = "auto"
    delimiter: str | None = None
    sheet: str | int | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_table(cls, data: Any) -> Any:
        if isinstance(data, dict) and "table" in data:
            data = dict(data)
            table = data.pop("table")
            entry = {k: data.pop(k) for k in ("columns", "duplicates") if k in data}
            data["tables"] = {table: entry}
        return data

    @model_validator(mode="after")
    def _known_columns(self) -> Mapping:
        for table, tmap in self.tables.items():
            spec = TABLES.get(table)
            if spec is None:
                raise ValueError(f"unknown table '{table}'; use one of {', '.join(TABLES)}")
            allowed = set(spec.column_names) | (set(PII_FIELDS) if _splits_pii(spec) else set())
            unknown = sorted(set(tmap.columns) - allowed)
            if unknown:
                raise ValueError(f"table '{table}' has no column(s) {', '.join(unknown)}")
            flagged = [c for c, r in tmap.columns.items() if r.personal is not None and c != "customer_id"]
            if flagged:
                raise ValueError(f"`personal` applies to customer_id only, not {', '.join(flagged)}")
        return self


def _splits_pii(spec: TableSpec) -> bool:
    """Analytics tables keyed to a customer take personal columns, which the loader moves to
    customer_pii; customer_pii itself (e.g. a CRM contacts export) is loaded as it is."""
    return not spec.private and "customer_id" in spec.column_names


def load_mapping(path: Path) -> Mapping:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Mapping.model_validate(raw)
    except FileNotFoundError:
        raise UserError(f"{path}: no such mapping file.") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise UserError(
            f"{path}: invalid mapping: {exc}", hint="See docs/data.md, 'Mapping files'."
        ) from None


def auto_mapping(spec: TableSpec, source: Source) -> TableMapping:
    """Match source headers to the table's columns (and personal columns) by name or alias."""
    by_key = {normalise_header(c): c for c in source.columns}
    columns: dict[str, ColumnRule] = {}
    for col in spec.columns:
        if normalise_header(col.name) in by_key:
            columns[col.name] = ColumnRule(source=by_key[normalise_header(col.name)], unit="minor")
            continue
        bare = col.name.removesuffix("_minor")
        aliases = PII_HEADERS.get(col.name, ()) if spec.private else ALIASES.get(col.name, ())
        candidates = (bare, *aliases)
        found = next((by_key[normalise_header(a)] for a in candidates if normalise_header(a) in by_key), None)
        if found is not None and found not in {r.source for r in columns.values()}:
            columns[col.name] = ColumnRule(source=found)
    if _splits_pii(spec):
        used = {r.source for r in columns.values()}
        for header in source.columns:
            kind = pii_kind_of_header(header)
            if kind and header not in used and kind not in columns:
                columns[kind] = ColumnRule(source=header)
    return TableMapping(columns=columns)


# --- column expressions -------------------------------------------------------------------------


def text_sql(expr: str) -> str:
    return f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')"


NUMERIC = (
    "DECIMAL",
    "DOUBLE",
    "FLOAT",
    "BIGINT",
    "INTEGER",
    "HUGEINT",
    "SMALLINT",
    "TINYINT",
    "UBIGINT",
    "UINTEGER",
)
INTEGERS = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER")


# What an amount written as text may carry besides its number: "¥1,299.00", "1299元", "RMB 99".
# Currency marks around an amount: symbols (HK$, US$, NT$ before the bare $), codes and words
# (人民币, 港币, 块钱); no-break spaces group thousands in French.
MONEY_NOISE = (
    "(?:HK|US|NT|NZ|A|C|S)\\$|[¥￥$€£\\s\u00a0\u202f]|RMB|CNY|USD|EUR|HKD|TWD|GBP|JPY|人民币|港币|块钱|块|元"
)
# A comma followed by one or two digits at the end is a decimal comma ("12,50", "1.234,50": European
# exports); thousands separators always group three digits, so "1,234" stays one thousand and more.
DECIMAL_COMMA = r"^[-+]?[0-9.]*,[0-9]{1,2}$"


def parse_amounts(values: pd.Series) -> pd.Series:
    """Amounts written as text ("￥1,299.00", "1.234,50 €") as floats; NaN where no number is left."""
    stripped = values.astype(str).str.replace(MONEY_NOISE, "", regex=True)
    comma = stripped.str.fullmatch(DECIMAL_COMMA)
    cleaned = stripped.where(
        ~comma, stripped.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    ).str.replace(",", "", regex=False)
    return pd.to_numeric(cleaned, errors="coerce").astype(float)


def amount_sql(expr: str) -> str:
    """A DECIMAL from an amount written as text (as `parse_amounts`); NULL where no number is left.
    Plain numbers take the cast alone: the regular expressions cost a quarter of a large load."""
    text = text_sql(expr)
    stripped = f"regexp_replace({text}, '{MONEY_NOISE}', '', 'g')"
    cleaned = (
        f"CASE WHEN regexp_full_match({stripped}, '{DECIMAL_COMMA}') "
        f"THEN replace(replace({stripped}, '.', ''), ',', '.') ELSE replace({stripped}, ',', '') END"
    )
    return f"coalesce(TRY_CAST({text} AS DECIMAL(38, 6)), TRY_CAST({cleaned} AS DECIMAL(38, 6)))"


def money_sql(expr: str, source_type: str, *, unit: str, digits: int, row_currency: str | None = None) -> str:
    """Minor units from an amount; text may carry currency symbols, thousands separators or a decimal
    comma (as `parse_amounts`). `row_currency`: SQL of the row's own currency, whose minor unit then
    scales a major amount (¥1,000 is 1000 minor units in JPY, 100000 in CNY); `digits` where it is
    blank."""
    if unit == "minor" and source_type in INTEGERS:
        return f"CAST({expr} AS BIGINT)"
    number = f"CAST({expr} AS DECIMAL(38, 6))" if source_type.startswith(NUMERIC) else amount_sql(expr)
    scale = str(10**digits) if unit == "major" else "1"
    if unit == "major" and row_currency is not None:
        scale = scale_sql(row_currency, digits)
    return f"CAST(round({number} * {scale}) AS BIGINT)"


def integer_sql(expr: str, source_type: str) -> str:
    if source_type in INTEGERS:
        return f"CAST({expr} AS BIGINT)"
    # '6', '6.0' (spreadsheets write integers as floats) and '1,200' are integers; '6.5' is not.
    number = amount_sql(expr)
    return f"CASE WHEN {number} = trunc({number}) THEN CAST({number} AS BIGINT) END"


# day/month (or month/day), then the year and an optional time: 05/03/2024, 5.3.24 14:03
NUMERIC_DATE = r"^(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{4}|\d{2})((?:[ T].*)?)$"


def day_first_of(
    con: duckdb.DuckDBPyConnection, relation: str, column: str, row: str, *, column_name: str, source: str
) -> bool | None:
    """Whether the numeric dates (05/03/2024) of a text column are day first, decided over the whole
    column as `data/dates.py` decides it: a first number above 12 makes it day first, a second one
    month first, both is refused naming a row of each; dots (05.03.2024) are day first. None when
    the column has no such dates or they fit either order (then month first)."""
    text, pattern = text_sql(column), sql_literal(NUMERIC_DATE)
    first, second = (f"TRY_CAST(regexp_extract(t, {pattern}, {i}) AS INTEGER)" for i in (1, 3))
    day_only, month_only = f"FILTER (WHERE {first} > 12)", f"FILTER (WHERE {second} > 12)"
    row_first, day, row_second, month, dots = con.execute(
        f"""SELECT min(r) {day_only}, arg_min(t, r) {day_only},
                   min(r) {month_only}, arg_min(t, r) {month_only},
                   bool_and(regexp_extract(t, {pattern}, 2) = '.')
            FROM (SELECT {text} AS t, {row} AS r FROM {relation}) WHERE regexp_matches(t, {pattern})"""
    ).fetchone()  # type: ignore[misc]
    if row_first is not None and row_second is not None:
        raise ValidationFailed(
            [
                f"row {row_first}, column {column_name!r}: {day!r} is day first",
                f"row {row_second}, column {column_name!r}: {month!r} is month first",
            ],
            source=source,
            hint="the column mixes day/month and month/day dates; write them as 2024-03-05, "
            "or say which in a mapping file (day_first: true)",
        )
    if row_first is None and row_second is None and not dots:
        return None
    return row_second is None


def temporal_sql(
    expr: str, source_type: str, target: str, fmt: str | None, day_first: bool | None = None
) -> str:
    """Dates and times as shops write them, when no format is given: ISO (2024-03-05 14:03,
    2024/3/5), 2024年3月5日 14:03, 2024.03.05, 20240305, Unix seconds or milliseconds (read as UTC),
    and numeric day/month dates in the order `day_first` says (month first when unset)."""
    if fmt:
        return f"CAST(try_strptime({text_sql(expr)}, {sql_literal(fmt)}) AS {target})"
    if source_type.startswith(("TIMESTAMP", "DATE")):
        return f"CAST({expr} AS {target})"
    t = text_sql(expr)
    chinese = rf"regexp_replace({t}, '^(\d{{4}})\s*年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*[日号]', '\1-\2-\3')"
    dotted = rf"regexp_replace({t}, '^(\d{{4}})\.(\d{{1,2}})\.(\d{{1,2}})', '\1-\2-\3')"
    day, month = (r"\1", r"\3") if day_first else (r"\3", r"\1")
    century = (
        rf"CASE WHEN CAST(regexp_extract({t}, '{NUMERIC_DATE}', 4) AS INTEGER) < 69 THEN '20' ELSE '19' END"
    )
    iso = rf"regexp_replace({t}, '{NUMERIC_DATE}', '\4-{month}-{day}\5')"
    two_digit_year = rf"regexp_replace({iso}, '^(\d\d)-', {century} || '\1-')"
    numeric = f"CASE WHEN regexp_matches({t}, '{NUMERIC_DATE}') THEN {two_digit_year} END"
    compact = rf"CASE WHEN regexp_full_match({t}, '(19|20)\d{{6}}') THEN try_strptime({t}, '%Y%m%d') END"
    # Unix time: 10 digits of seconds or 13 of milliseconds, 2001–2033
    seconds, millis = (
        rf"CASE WHEN regexp_full_match({t}, '1\d{{{n}}}') "
        f"THEN make_timestamp(CAST({t} AS BIGINT) * {micros}) END"
        for n, micros in ((9, 1_000_000), (12, 1_000))
    )
    tried = ", ".join(
        f"TRY_CAST({x} AS {target})" for x in (t, chinese, dotted, numeric, compact, seconds, millis)
    )
    return f"coalesce({tried})"


def boolean_sql(expr: str) -> str:
    lowered = f"lower({text_sql(expr)})"
    return (
        f"CASE WHEN {lowered} IN ('是', 'y', 'yes') THEN true WHEN {lowered} IN ('否', 'n', 'no') THEN false "
        f"ELSE TRY_CAST({lowered} AS BOOLEAN) END"
    )


EXPECTED = {
    "VARCHAR": "text",
    "INTEGER": "a whole number",
    "BIGINT": "a whole number",
    "DOUBLE": "a number",
    "BOOLEAN": "true/false (是/否)",
    "TIMESTAMP": "a date/time such as 2024-11-11 20:00:00",
    "DATE": "a date such as 2024-11-11",
}


# Order statuses as shops export them → the canonical three the analytics read. Analytics count every
# order that is not 'cancelled' or 'returned' as a sale, so a raw 已取消 or 'refunded' would be counted
# as revenue. States whose outcome is open (待付款, 退款中, pending) are deliberately not here: the load
# names them and the mapping's `values:` decides.
STATUSES = ("completed", "cancelled", "returned")
STATUS_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("completed", "complete", "paid", "fulfilled", "shipped", "delivered", "success", "succeeded",
         "已完成", "完成", "交易成功", "交易完成", "订单完成", "已付款", "买家已付款",
         "买家已付款,等待卖家发货", "等待卖家发货", "待发货", "已发货", "卖家已发货",
         "卖家已发货,等待买家确认", "等待确认收货", "待收货", "已收货", "已签收"),
        "completed",
    ),
    **dict.fromkeys(
        ("cancelled", "canceled", "voided", "void", "closed", "已取消", "取消", "交易关闭", "已关闭",
         "订单取消", "交易取消"),
        "cancelled",
    ),
    **dict.fromkeys(
        ("returned", "refunded", "return", "refund", "已退款", "退款成功", "已退货", "退货成功",
         "退款完成", "退货退款"),
        "returned",
    ),
}  # fmt: skip


def status_sql(text: str) -> str:
    """The canonical status of a text status (case and full-width commas aside); unknown values stay
    as written, for the loader to name."""
    cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in STATUS_WORDS.items())
    return f"CASE replace(lower({text}), '，', ',') {cases} ELSE {text} END"


def typed_sql(
    col: Column,
    rule: ColumnRule,
    raw: str,
    source_type: str,
    currency: str,
    row_currency: str | None = None,
) -> tuple[str, str, bool]:
    """(SQL giving the canonical value, what a valid source value looks like, whether a present value
    can fail to convert). Typed sources (Parquet) take plain CASTs, which cannot fail, so the
    validation pass skips them. `row_currency`: SQL of the row's currency when a column gives it."""
    if rule.values:
        cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in rule.values.items())
        raw = f"CASE {text_sql(raw)} {cases} ELSE {text_sql(raw)} END"
        source_type = "VARCHAR"
    if col.name == "status":  # values the mapping does not name go through the common vocabulary
        return status_sql(text_sql(raw)), EXPECTED["VARCHAR"], False
    if col.name == "currency":  # ISO codes: 'jpy', 'JPY' and 日元 are one currency in every total
        return currency_sql(text_sql(raw)), EXPECTED["VARCHAR"], False
    if col.name.endswith("_minor"):
        digits = minor_digits(currency)
        unit_doc = "major units, e.g. 12.34" if rule.unit == "major" else "minor units, e.g. 1234"
        money = money_sql(raw, source_type, unit=rule.unit, digits=digits, row_currency=row_currency)
        return money, f"an amount in {unit_doc}", not source_type.startswith(NUMERIC)
    if col.type in ("INTEGER", "BIGINT"):
        return integer_sql(raw, source_type), EXPECTED[col.type], source_type not in INTEGERS
    if col.type in ("TIMESTAMP", "DATE"):
        expected = f"a date/time in the format {rule.format}" if rule.format else EXPECTED[col.type]
        native = source_type.startswith(("TIMESTAMP", "DATE")) and not rule.format
        return temporal_sql(raw, source_type, col.type, rule.format, rule.day_first), expected, not native
    if col.type == "BOOLEAN":
        if source_type == "BOOLEAN":
            return raw, EXPECTED["BOOLEAN"], False
        return boolean_sql(raw), EXPECTED["BOOLEAN"], True
    if col.type == "DOUBLE":
        if source_type.startswith(NUMERIC):
            return f"CAST({raw} AS DOUBLE)", EXPECTED["DOUBLE"], False
        return f"TRY_CAST({text_sql(raw)} AS DOUBLE)", EXPECTED["DOUBLE"], True
    return text_sql(raw), EXPECTED["VARCHAR"], False


def compile_table(
    table: str, tmap: TableMapping, source: Source, *, currency: str
) -> tuple[list[str], list[Check], list[str]]:
    """(SELECT list of canonical + PII columns, checks on the source, missing-column problems)."""
    spec = TABLES[table]
    missing = [
        r.source for r in tmap.columns.values() if r.source is not None and r.source not in source.types
    ]
    problems = [f"column '{m}' is not in the file (columns: {', '.join(source.columns)})" for m in missing]
    unmapped_required = [c for c in spec.required if c not in tmap.columns]
    # The file's headers as read: a header that is no alias (评价编号) or was mis-typed shows here.
    problems += [
        f"no column for required '{c}' in table {table} (the file's columns: {', '.join(source.columns)});"
        f" name a column '{c}' or map it in a mapping file"
        for c in unmapped_required
    ]
    if problems:
        return [], [], problems
    selects = [ROW, LINE] if source.lines else [ROW]
    checks: list[Check] = []
    # A file with a currency per row: each amount in major units is scaled by its own row's minor unit.
    row_currency, crule = None, tmap.columns.get("currency")
    if crule is not None:
        if crule.value is not None:
            currency = str(crule.value)
        elif crule.source is not None:
            ccol = spec.column("currency")
            row_currency = typed_sql(ccol, crule, ident(crule.source), source.types[crule.source], currency)[
                0
            ]
    ordered = [
        c for c in spec.columns if c.name in tmap.columns and not tmap.columns[c.name].line_number_within
    ]
    for col in ordered:
        rule = tmap.columns[col.name]
        if rule.value is not None:
            raw, source_type, label = sql_literal(str(rule.value)), "VARCHAR", f"(constant for {col.name})"
        else:
            assert rule.source is not None
            raw, source_type, label = ident(rule.source), source.types[rule.source], rule.source
        typed, expected, can_fail = typed_sql(col, rule, raw, source_type, currency, row_currency)
        selects.append(f"{typed} AS {ident(col.name)}")
        present = f"{text_sql(raw)} IS NOT NULL" if source_type == "VARCHAR" else f"{raw} IS NOT NULL"
        if can_fail:
            checks.append(Check(label, f"{present} AND ({typed}) IS NULL", raw, expected))
        if col.required and tmap.duplicates == "error":  # with `first`, checked per key after grouping
            checks.append(Check(label, f"NOT ({present})", raw, f"a value ('{col.name}' is required)"))
    for col in spec.columns:
        rule = tmap.columns.get(col.name)
        if rule is not None and rule.line_number_within:
            within = tmap.columns.get(rule.line_number_within)
            if within is None or within.source is None:
                raise UserError(
                    f"line_number_within: '{rule.line_number_within}' is not mapped from a column."
                )
            selects.append(
                f"row_number() OVER (PARTITION BY {ident(within.source)} ORDER BY {ROW}) AS {ident(col.name)}"
            )
    for kind in PII_FIELDS:
        rule = tmap.columns.get(kind)
        if rule is not None and rule.source is not None:
            selects.append(f"{text_sql(ident(rule.source))} AS {ident('__pii_' + kind)}")
    if "currency" in spec.column_names and "currency" not in tmap.columns:
        selects.append(f"{sql_literal(currency)} AS currency")
    return selects, checks, []
