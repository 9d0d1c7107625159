"""Provider registry. Built-ins register the same way a plugin would: `register_provider(name, factory)`."""

from __future__ import annotations

from collections.abc import Callable

from marketpilot.config import Settings
from marketpilot.errors import UserError
from marketpilot.llm.providers.base import GenerationParams, Provider, RawReply

ProviderFactory = Callable[[Settings], Provider]
_FACTORIES: dict[str, ProviderFactory] = {}


def register_provider(name: str, factory: ProviderFactory) -> None:
    _FACTORIES[name] = factory


def create_provider(name: str, settings: Settings) -> Provider:
    if name not in _FACTORIES:
        raise UserError(
            f"Unknown LLM provider {name!r}",
            hint=f"Set MARKETPILOT_LLM_PROVIDER to one of: {', '.join(sorted(_FACTORIES))}",
        )
    return _FACTORIES[name](settings)


def _openai_compat(settings: Settings) -> Provider:
    from marketpilot.llm.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider.from_settings(settings)


def _llamacpp(settings: Settings) -> Provider:
    from marketpilot.llm.providers.llamacpp import LlamaCppProvider

    return LlamaCppProvider.from_settings(settings)


register_provider("openai_compat", _openai_compat)
register_provider("llamacpp", _llamacpp)

__all__ = ["GenerationParams", "Provider", "RawReply", "create_provider", "register_provider"]
