"""Providers are chosen by configuration only, plugins included: a provider registered under a new
name is selected by MARKETPILOT_LLM_PROVIDER like a built-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_server import OpenAITestServer
from marketpilot.config import get_settings
from marketpilot.errors import UserError
from marketpilot.llm import Message, get_client, register_provider
from marketpilot.llm.providers.openai_compat import OpenAICompatProvider


class GatewayProvider(OpenAICompatProvider):
    """A plugin in the pydantic-ai style: a vendor's OpenAI-compatible gateway under its own name."""

    name = "shop_gateway"


def test_a_registered_plugin_is_chosen_by_configuration(
    llm_server: OpenAITestServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_provider("shop_gateway", GatewayProvider.from_settings)
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "shop_gateway")
    llm_server.script("你好！")
    with get_client(get_settings(home)) as client:
        completion = client.complete([Message(role="user", content="你好")], max_tokens=8)
    assert completion.text == "你好！" and completion.provider == "shop_gateway"
    assert llm_server.requests[0]["messages"][-1]["content"] == "你好"


def test_an_unknown_provider_names_the_registered_ones(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "no_such_provider")
    with pytest.raises(UserError, match="no_such_provider") as raised:
        get_client(get_settings(home))
    assert "openai_compat" in str(raised.value.hint) and "llamacpp" in str(raised.value.hint)
