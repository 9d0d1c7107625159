"""Guardrails: small checkers that each return `Violation`s with character positions.

`check_copy` runs them all; generation uses it to repair or drop variants, and `marketpilot copy
check` exposes it without any LLM.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from marketpilot.content.briefs import Brief
from marketpilot.content.channels import ChannelSpec, channel_specs
from marketpilot.content.guardrails.ad_law import check_ad_law
from marketpilot.content.guardrails.base import Violation
from marketpilot.content.guardrails.brand import check_brand
from marketpilot.content.guardrails.facts import check_facts, extract_claims
from marketpilot.content.guardrails.length import SmsBilling, check_length, sms_billing, sms_message
from marketpilot.content.guardrails.pii import check_pii
from marketpilot.content.guardrails.platform import check_ai_label, check_time_limited
from marketpilot.content.guardrails.slots import check_slots
from marketpilot.errors import UserError


class CheckResult(BaseModel):
    ok: bool
    violations: list[Violation]
    sms: SmsBilling | None = None  # billed segments, for SMS copy

    def public(self) -> dict[str, object]:
        """The `copy check --json` shape: {"ok", "violations": [{rule, span, text, message, suggestion}]}."""
        return {"ok": self.ok, "violations": [v.model_dump(mode="json") for v in self.violations]}


def check_copy(
    text: str,
    brief: Brief,
    channel: str | None = None,
    *,
    specs: Mapping[str, ChannelSpec] | None = None,
) -> CheckResult:
    """Every guardrail on `text` for `brief` (channel defaults to the brief's). `specs` default to
    `channel_specs()`, the AI label settings of marketpilot.toml, which the CLI, the API and the
    campaigns check with: a plain call gives the same verdict as `marketpilot copy check`."""
    specs = channel_specs() if specs is None else specs
    name = channel or brief.channel
    if name not in specs:
        raise UserError(f"Unknown channel {name!r}.", hint=f"Use one of: {', '.join(specs)}")
    spec = specs[name]
    violations = [
        *check_facts(text, brief),
        *check_ad_law(text, brief),
        *check_length(text, brief, spec),
        *check_time_limited(text, brief),
        *check_ai_label(text, brief, spec),
        *check_brand(text, brief),
        *check_pii(text),
        *check_slots(text, allowed=spec.slots),
    ]
    violations.sort(key=lambda v: (v.span[0], v.span[1], v.rule))
    sms = (
        sms_billing(sms_message(text, shop_name=brief.brand.shop_name, language=brief.language))
        if spec.name == "sms"
        else None
    )
    return CheckResult(ok=not violations, violations=violations, sms=sms)


__all__ = ["CheckResult", "Violation", "check_copy", "extract_claims"]
