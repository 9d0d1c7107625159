"""The one LLM interface every feature uses. Providers implement `LLMClient`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field

from marketpilot.llm.errors import LLMError

T = TypeVar("T", bound=BaseModel)


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class PromptRef(BaseModel):
    """Which versioned prompt template produced the messages (recorded with every completion)."""

    name: str
    version: str
    language: str


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Completion(BaseModel):
    text: str
    parsed: Any | None = None  # the validated pydantic object when a schema was given
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    provider: str
    model: str
    prompt: PromptRef | None = None
    cached: bool = False
    cost: float = 0.0
    # "stop" or "length" (cut off at max_tokens); None when the provider does not say.
    finish_reason: str | None = None


class LLMRequest(BaseModel):
    """One request of a batch (`complete_many`)."""

    messages: list[Message]
    # `schema=` works too, matching `complete(..., schema=...)`.
    schema_model: type[BaseModel] | None = Field(default=None, alias="schema")
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int | None = None
    stop: list[str] | None = None
    prompt: PromptRef | None = None
    frequency_penalty: float = 0.0

    model_config = {"arbitrary_types_allowed": True, "populate_by_name": True}


@runtime_checkable
class LLMClient(Protocol):
    provider: str
    model: str

    def complete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 512,
        seed: int | None = None,
        stop: list[str] | None = None,
        prompt: PromptRef | None = None,
        frequency_penalty: float = 0.0,
    ) -> Completion: ...

    def complete_many(
        self,
        requests: list[LLMRequest],
        *,
        concurrency: int | None = None,
        on_result: Callable[[int, Completion | LLMError], None] | None = None,
    ) -> list[Completion | LLMError]: ...
