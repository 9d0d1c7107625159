"""/v1/assistant/ask: the customer-service assistant."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from marketpilot.api.auth import app_settings
from marketpilot.assistant import AssistantReply, Turn
from marketpilot.assistant.answer import MAX_QUESTION
from marketpilot.config import Settings

router = APIRouter(prefix="/assistant", tags=["assistant"])


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    customer_id: str | None = Field(
        default=None, description="The signed-in customer (the caller vouches for it): enables order answers."
    )
    lang: Literal["zh", "en"] | None = Field(default=None, description="Default: the question's language.")
    history: list[Turn] = Field(
        default_factory=list,
        max_length=20,
        description="Earlier turns, oldest first (the last 3 give a follow-up its context).",
    )


@router.post("/ask")
def ask(request: Question, settings: Annotated[Settings, Depends(app_settings)]) -> AssistantReply:
    """A grounded answer with citations, or `handoff: true` with the reason (also queued for the team).
    A failing LLM is a hand-off, not an error."""
    from marketpilot.assistant import answer_question

    return answer_question(
        settings,
        request.question,
        customer_id=request.customer_id,
        lang=request.lang,
        history=request.history,
    )
