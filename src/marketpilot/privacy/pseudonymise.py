"""Keyed pseudonymous customer ids and recognition of personal columns on load.

A customer id that is itself personal is replaced by `p_` + HMAC-SHA256(home secret, id)[:20 hex].
Personal means: an e-mail address, a phone number, or an account name / nickname (买家会员名, a
username) — anything that is not an opaque id (digits, hex, a UUID, a short code such as `M001` or
`CUST-00042`). The rule is per value, so an id gets the same key in every file and every load.
The HMAC runs inside DuckDB (sha256 over the ipad/opad blocks), so millions of ids are pseudonymised
without a Python loop, and the result is byte-identical to `hmac.new(secret, id, sha256)` (see
`pseudonym`), hence stable across files and loads of the same home.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

PREFIX = "p_"
HEX_CHARS = 20

# DuckDB regular expressions (RE2) for ids that identify a person.
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
PHONE_RE = r"^(\+?86[ -]?)?1[3-9][0-9]{9}$|^\+[0-9][0-9 -]{7,16}[0-9]$"
# Ids that name nobody: digits (Online Retail's CustomerID, CDNOW's 00004), hex digests, UUIDs, and
# short codes (a prefix of up to 6 letters, then digits: M001, c1, CUST-00042, guest:536365). Anything
# else a shop uses as a customer id is an account name chosen by, or naming, the buyer.
OPAQUE_ID_RE = (
    r"^[0-9]+$|^[0-9A-Fa-f]{16,}$|^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$"
    r"|^[A-Za-z]{1,6}[-_:#]?[0-9][0-9-]*$"
)

# Header names (normalised: lower case, no spaces/_/-) of personal columns, zh and en.
PII_HEADERS: dict[str, tuple[str, ...]] = {
    "name": (
        "name", "fullname", "customername", "buyername", "contactname", "recipient", "receiver",
        "firstname", "lastname", "billingname", "shippingname",
        "姓名", "客户姓名", "收货人", "收货人姓名", "收件人", "联系人", "买家姓名", "真实姓名",
    ),
    "phone": (
        "phone", "phonenumber", "mobile", "mobilephone", "tel", "telephone", "cellphone", "billingphone",
        "shippingphone", "手机", "手机号", "手机号码", "电话", "联系电话", "联系方式", "收货人手机",
    ),
    "email": ("email", "e-mail", "emailaddress", "mail", "邮箱", "电子邮箱", "电子邮件", "邮件地址"),
    "address": (
        "address", "address1", "address2", "streetaddress", "shippingaddress", "billingaddress",
        "shippingaddress1", "billingaddress1", "地址", "收货地址", "详细地址", "联系地址", "收件地址",
    ),
}  # fmt: skip


def normalise_header(name: str) -> str:
    """A header's key for matching: full-width forms as ASCII (ＩＤ, （元）), case, spaces, _ and -
    folded, and a trailing unit in brackets dropped ("金额（元）", "Price (USD)")."""
    key = unicodedata.normalize("NFKC", name).strip().lower()
    key = re.sub(r"\s*[(\[][^()\[\]]*[)\]]$", "", key) or key
    return re.sub(r"[\s_\-]+", "", key)


def pii_kind_of_header(name: str) -> str | None:
    """'name' | 'phone' | 'email' | 'address' when a header names personal data."""
    key = normalise_header(name)
    return next((kind for kind, names in PII_HEADERS.items() if key in names), None)


def is_contact_sql(expr: str) -> str:
    """SQL predicate: the value is an e-mail address or a phone number."""
    return f"(regexp_matches({expr}, '{EMAIL_RE}') OR regexp_matches({expr}, '{PHONE_RE}'))"


def is_personal_sql(expr: str, declared: bool | None = None) -> str:
    """SQL predicate: the id must be pseudonymised.

    `declared` is what the mapping says of the column (`personal: true/false`): true pseudonymises
    every id; false keeps ids as written except e-mails/phones (contact data is never an opaque id);
    None (not said) also pseudonymises every id that is not opaque (see OPAQUE_ID_RE)."""
    if declared:
        return f"({expr} IS NOT NULL)"
    if declared is False:
        return is_contact_sql(expr)
    return f"({is_contact_sql(expr)} OR NOT regexp_matches({expr}, '{OPAQUE_ID_RE}'))"


def contact_kind_sql(expr: str) -> str:
    """SQL: 'email', 'phone' or NULL for a value."""
    return (
        f"CASE WHEN regexp_matches({expr}, '{EMAIL_RE}') THEN 'email' "
        f"WHEN regexp_matches({expr}, '{PHONE_RE}') THEN 'phone' END"
    )


def _pads(secret: bytes) -> tuple[bytes, bytes]:
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pseudonym_sql(expr: str, secret: bytes) -> str:
    """SQL expression computing the keyed pseudonym of the VARCHAR `expr` (HMAC-SHA256, RFC 2104)."""
    ipad, opad = _pads(secret)
    inner = f"unhex(sha256(unhex('{ipad.hex()}') || encode({expr})))"
    return f"'{PREFIX}' || substr(sha256(unhex('{opad.hex()}') || {inner}), 1, {HEX_CHARS})"


def pseudonym(value: str, secret: bytes) -> str:
    """The pseudonym of one id, for look-ups (e.g. 'which key does this e-mail have?')."""
    return PREFIX + hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:HEX_CHARS]
