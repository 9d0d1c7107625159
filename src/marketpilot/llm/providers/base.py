"""What a provider implements: one raw chat call (and optionally streaming). Everything else — retries,
circuit breaker, fallback, structured output, cache, ledger — lives once in `marketpilot.llm.client`."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from marketpilot.llm.base import Message, Usage


class GenerationParams(BaseModel):
    """Sampling parameters of one call (part of the cache key)."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    # OpenAI semantics: subtracted from a token's logit per earlier use; breaks a small model's loops.
    frequency_penalty: float = 0.0


@dataclass
class RawReply:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


class Provider(Protocol):
    """`generate` raises LLMTransientError for anything worth retrying and LLMError otherwise."""

    name: str
    model: str

    def generate(
        self, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None
    ) -> RawReply: ...

    # A generator, so that the client can close it (and the connection) when its caller stops reading.
    def stream(self, messages: list[Message], params: GenerationParams) -> Generator[str, None, None]: ...

    def close(self) -> None: ...
