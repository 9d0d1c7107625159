"""The dashboard's forms with bad input: every refusal is a message htmx swaps into the page (htmx
swaps no 4xx, so an error status showed nothing), and a refused form writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from marketpilot.api import create_app
from marketpilot.config import Settings, get_settings

HTMX = {"content-type": "application/x-www-form-urlencoded", "HX-Request": "true"}
NOT_UTF8 = "%ED%A0%80"  # a lone surrogate's bytes, which no UTF-8 text has


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state

    settings = get_settings(tmp_path / "home")
    spec = {
        "name": "春节唤醒",
        "goal": "reactivation",
        "audience": {},
        "offer": {"description": "满200减20"},
        "channels": [{"name": "export", "variants": [{"key": "A", "text": "{name}，新春好礼"}]}],
    }
    create_campaign(open_state(settings), parse_spec(spec), campaign_id="spring-1")
    return settings


def approvals(settings: Settings) -> list[str]:
    from marketpilot.campaigns.service import audit_trail
    from marketpilot.campaigns.state.db import open_state

    return audit_trail(open_state(settings), "spring-1")["approvals"]["approver"].tolist()


def test_an_approval_form_with_bad_input_says_why_and_writes_nothing(home: Settings) -> None:
    client = TestClient(create_app(home, require_key=False))
    for body, says in (
        ("by=", "who approves"),
        ("by=%20%20&note=x", "who approves"),
        ("by=" + "王" * 101, "at most 100"),
        (f"by={NOT_UTF8}", "not valid UTF-8"),
        (f"by=小王&note={NOT_UTF8}", "not valid UTF-8"),
    ):
        reply = client.post("/ui/campaigns/spring-1/approve", content=body, headers=HTMX)
        assert reply.status_code == 200 and 'class="bad"' in reply.text and says in reply.text, body
    assert approvals(home) == []
    unknown = client.post("/ui/campaigns/nope/approve", content="by=小王", headers=HTMX)
    assert unknown.status_code == 200 and "No campaign &#39;nope&#39;" in unknown.text


def test_a_double_submitted_approval_is_recorded_once(home: Settings) -> None:
    client = TestClient(create_app(home, require_key=False))
    first = client.post("/ui/campaigns/spring-1/approve", content="by=运营小王", headers=HTMX)
    again = client.post("/ui/campaigns/spring-1/approve", content="by=%20运营小王%20", headers=HTMX)
    assert "已批准 v1" in first.text and "already approved" in again.text
    assert approvals(home) == ["运营小王"]
    # another person's sign-off of the same version is still a second sign-off
    client.post("/ui/campaigns/spring-1/approve", content="by=店长", headers=HTMX)
    assert approvals(home) == ["运营小王", "店长"]


def test_the_approval_form_guards_against_a_double_click(home: Settings) -> None:
    page = TestClient(create_app(home, require_key=False)).get("/ui/campaigns/spring-1").text
    assert 'hx-disabled-elt="find button"' in page and 'maxlength="100" required' in page


def test_a_refused_question_is_a_message_on_the_page_and_queues_nothing(home: Settings) -> None:
    """Too long, only a zero-width space, or not UTF-8: refused before any model runs. A question of
    bytes that are not UTF-8 was read as U+FFFD and handed to a person, into the team's queue."""
    client = TestClient(create_app(home, require_key=False))
    for body, says in (
        ("question=%E2%80%8B", "The question is empty"),
        ("question=" + "问" * 2001, "at most 2,000"),
        (f"question={NOT_UTF8}转人工", "not valid UTF-8"),
    ):
        reply = client.post("/ui/assistant/ask", content=body, headers=HTMX)
        assert reply.status_code == 200 and reply.text.startswith('<p class="bad">') and says in reply.text
    assert not (home.home_dir / "assistant" / "handoffs.jsonl").exists()
    page = client.get("/ui/assistant").text
    assert 'maxlength="2000"' in page and 'hx-disabled-elt="find button"' in page
