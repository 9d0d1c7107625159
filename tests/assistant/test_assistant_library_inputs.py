"""`answer_question` from Python: a language other than zh/en is a UserError before anything runs (it
was a pydantic traceback from the reply, after the retrieval and the model)."""

from __future__ import annotations

import pytest

from marketpilot.assistant import answer_question
from marketpilot.config import Settings
from marketpilot.errors import UserError


def test_a_wrong_language_is_named(settings: Settings) -> None:
    with pytest.raises(UserError, match="lang must be 'zh' or 'en'"):
        answer_question(settings, "我要投诉", lang="fr")  # type: ignore[arg-type]
    assert not (settings.home_dir / "assistant" / "handoffs.jsonl").exists()  # nothing was recorded
