"""What the `marketpilot llm` commands (and the API) call: a health check and the usage report."""

from __future__ import annotations

import time

from pydantic import BaseModel

from marketpilot.config import Settings
from marketpilot.errors import MarketPilotError
from marketpilot.llm.client import Client, get_client
from marketpilot.llm.logdb import LLMLog, UsageRow
from marketpilot.llm.prompts import load_prompt

_CHECK_PRODUCT = {"zh": "不锈钢保温杯", "en": "a stainless steel thermos"}


class CheckResult(BaseModel):
    ok: bool
    provider: str
    model: str | None = None  # None when the check failed before the model was known
    tokens_per_s: float | None = None  # completion tokens / wall time, prompt processing included
    latency_s: float | None = None
    sample: str | None = None
    error: str | None = None


def check_llm(settings: Settings, *, max_tokens: int = 32) -> CheckResult:
    """One real round trip (never from the cache) with the configured provider. Every failure, from
    bad configuration to a dead server, comes back as `ok=False` with the error: `llm check --json`
    must always print JSON."""
    prompt = load_prompt("llm_check", settings.language)
    messages = prompt.render(product=_CHECK_PRODUCT[settings.language])
    try:
        client = get_client(settings)
    except MarketPilotError as exc:
        return CheckResult(ok=False, provider=settings.llm_provider, model=settings.llm_model, error=str(exc))
    try:
        completion = client.complete(
            messages, temperature=0, max_tokens=max_tokens, prompt=prompt.ref, use_cache=False
        )
    except MarketPilotError as exc:
        return CheckResult(ok=False, provider=client.provider, model=_known_model(client), error=str(exc))
    finally:
        client.close()
    return CheckResult(
        ok=True,
        provider=completion.provider,
        model=completion.model,
        tokens_per_s=round(completion.usage.completion_tokens / max(completion.latency_s, 1e-9), 2),
        latency_s=round(completion.latency_s, 3),
        sample=completion.text,
    )


def _known_model(client: Client) -> str | None:
    """The model name, unless finding it out is what failed (a server that cannot list its models)."""
    try:
        return client.model
    except MarketPilotError:
        return None


def usage_report(settings: Settings, *, days: float | None = None) -> list[UsageRow]:
    """Ledger totals per provider, model and prompt, optionally for the last `days` only."""
    log = LLMLog(settings.path("llm.sqlite"))
    try:
        return log.usage(since_ts=time.time() - days * 86400 if days else None)
    finally:
        log.close()
