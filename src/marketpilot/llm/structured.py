"""Structured output: a pydantic model becomes a JSON schema going out and a validated object coming back."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from marketpilot.llm.base import Message
from marketpilot.llm.prompts import load_prompt

M = TypeVar("M", bound=BaseModel)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class InvalidOutput(ValueError):
    """The reply text is not a valid instance of the schema; `problems` are short, model-readable lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def json_schema_for(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _without_titles(node: Any) -> Any:
    """The schema as the model reads it: pydantic's per-field "title" repeats the field name and only
    costs prompt tokens (a small local model reads every one of them)."""
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


def with_schema_instruction(messages: list[Message], schema: dict[str, Any], language: str) -> list[Message]:
    """Tell the model the schema in the system message. Done even when the server enforces the schema:
    a grammar fixes the shape but only the prompt conveys what each field means."""
    instruction = (
        load_prompt("llm_json_schema", language)
        .render(schema=json.dumps(_without_titles(schema), ensure_ascii=False, separators=(",", ":")))[0]
        .content
    )
    if messages and messages[0].role == "system":
        first = Message(role="system", content=f"{messages[0].content}\n\n{instruction}")
        return [first, *messages[1:]]
    return [Message(role="system", content=instruction), *messages]


def repair_messages(reply: str, error: InvalidOutput, *, truncated: bool, language: str) -> list[Message]:
    """The failed reply and the validation problems, appended to the conversation for the next attempt."""
    feedback = (
        load_prompt("llm_json_repair", language)
        .render(problems="; ".join(error.problems), truncated=truncated)[0]
        .content
    )
    return [Message(role="assistant", content=reply), Message(role="user", content=feedback)]


def extract_json(text: str) -> str:
    """The JSON object inside a reply that may wrap it in code fences or a sentence."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start == -1 or end < start:
        return candidate.strip()
    return candidate[start : end + 1]


def parse_output(text: str, model: type[M]) -> M:
    """Validate `text` against `model`; InvalidOutput lists what is wrong (at most 8 problems)."""
    try:
        return model.model_validate_json(extract_json(text))
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:8]:
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            problems.append(f"{where}: {err['msg']}")
        raise InvalidOutput(problems) from exc
