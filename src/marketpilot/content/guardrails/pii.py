"""No personal data in copy: a phone number, e-mail or ID in a template would go to every customer."""

from __future__ import annotations

from marketpilot.content.guardrails.base import Violation
from marketpilot.privacy.pii import MASKS, find_pii

_NAMES = {
    "phone": "phone number",
    "email": "e-mail address",
    "cn_id": "ID card number",
    "bank_card": "bank card number",
    "address": "postal address",
}


def check_pii(text: str) -> list[Violation]:
    return [
        Violation(
            rule="pii",
            span=(m.start, m.end),
            text=m.text,
            message=f"copy contains a {_NAMES.get(m.kind, m.kind)}",
            suggestion=(
                f"remove it (masked: {MASKS[m.kind]}); personal details are filled per customer "
                "at send time, never written into copy"
            ),
        )
        for m in find_pii(text)
    ]
