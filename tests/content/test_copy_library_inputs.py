"""The copy functions called from Python: a wrong channel or language is a UserError naming the
choices (was a pydantic traceback or a KeyError), and `check_copy` without `specs` applies the
marketpilot.toml AI-label settings, as `marketpilot copy check` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketpilot.config import Settings
from marketpilot.content import Brief, brief_for, check_copy
from marketpilot.errors import UserError

BRIEF = Brief.model_validate({"name": "羊毛大衣", "price": 399, "promo_price": 319})


@pytest.mark.parametrize(
    ("channel", "language", "words"),
    [("fax", "zh", "Unknown channel 'fax'"), ("sms", "fr", "language must be 'zh' or 'en'")],
)
def test_brief_for_names_a_wrong_channel_or_language(
    settings: Settings, channel: str, language: str, words: str
) -> None:
    # Refused before the store is read: this home has no catalogue at all.
    with pytest.raises(UserError, match=words):
        brief_for(settings, "P000001", "all", channel, language)  # type: ignore[arg-type]


def test_check_copy_names_a_wrong_channel() -> None:
    with pytest.raises(UserError, match="Unknown channel 'fax'") as caught:
        check_copy("羊毛大衣现价319元", BRIEF, "fax")
    assert "sms" in str(caught.value)  # the hint lists the channels


def test_check_copy_follows_the_config_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_copy("羊毛大衣现价319元", BRIEF).ok
    config = tmp_path / "marketpilot.toml"
    config.write_text("[content.ai_label.sms]\nvisible = true\n", encoding="utf-8")
    monkeypatch.setenv("MARKETPILOT_CONFIG", str(config))
    (violation,) = check_copy("羊毛大衣现价319元", BRIEF).violations  # SMS now needs the AI marker
    assert violation.rule == "platform"
    assert check_copy("羊毛大衣现价319元（AI生成）", BRIEF).ok
