"""The LLM layer: one client for an embedded local model and any OpenAI-compatible server.

from marketpilot.llm import get_client, load_prompt
client = get_client(settings)
prompt = load_prompt("review_sentiment", "zh")  # prompts/review_sentiment.zh.j2
completion = client.complete(prompt.render(text=review), schema=Verdict, temperature=0, prompt=prompt.ref)
completion.parsed.label  # "pos" | "neg", Verdict being a pydantic model with `label: Literal["pos", "neg"]`
"""

from marketpilot.llm.base import Completion, LLMClient, LLMRequest, Message, PromptRef, Usage
from marketpilot.llm.client import Client, get_client
from marketpilot.llm.errors import LLMError, LLMOutputError, LLMTransientError, LLMUnavailableError
from marketpilot.llm.prompts import PromptTemplate, load_prompt
from marketpilot.llm.providers import register_provider
from marketpilot.llm.resilience import CircuitBreaker, RetryPolicy

__all__ = [
    "CircuitBreaker",
    "Client",
    "Completion",
    "LLMClient",
    "LLMError",
    "LLMOutputError",
    "LLMRequest",
    "LLMTransientError",
    "LLMUnavailableError",
    "Message",
    "PromptRef",
    "PromptTemplate",
    "RetryPolicy",
    "Usage",
    "get_client",
    "load_prompt",
    "register_provider",
]
