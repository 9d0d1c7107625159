"""Reasoning models (DeepSeek-R1, Qwen3, QwQ) served without a reasoning parser put their thinking in
the reply itself: `<think>…</think>` before the answer. Callers want the answer only: the thinking is
not marketing copy, and its braces would confuse the JSON extraction of structured output.

Many of their chat templates open the block in the prompt, so the reply carries only the closing tag:
thinking, `</think>`, answer. Nothing marks such a reply before that tag arrives."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

OPEN, CLOSE = "<think>", "</think>"

# Model families whose usual chat templates open the think block in the prompt: DeepSeek-R1 and its
# distills, QwQ, Qwen3-…-Thinking, deepseek-reasoner, Phi-4-reasoning.
_THINKS_IN_PROMPT = re.compile(
    r"(?<![a-z0-9])(r1|qwq|thinking|reasoner|reasoning)(?![a-z0-9])", re.IGNORECASE
)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """(answer, reasoning); reasoning is None when the reply has no think block. A reply cut off while
    still thinking has an empty answer."""
    head = text.lstrip()
    if head.startswith(OPEN):
        end = head.find(CLOSE)
        if end == -1:
            return "", head[len(OPEN) :]
        return head[end + len(CLOSE) :].lstrip(), head[len(OPEN) : end]
    end = text.find(CLOSE)
    if end != -1 and OPEN not in text[:end]:
        return text[end + len(CLOSE) :].lstrip(), text[:end]
    return text, None


def closes_only(text: str) -> bool:
    """True when the reply's think block had only its closing tag (the template opened it)."""
    head = text.lstrip()
    return not head.startswith(OPEN) and split_reasoning(text)[1] is not None


def may_think_in_prompt(model: str) -> bool:
    """Whether the model's name says its replies may open with thinking and no `<think>` tag."""
    return _THINKS_IN_PROMPT.search(model) is not None


def answer_pieces(
    pieces: Iterator[str], *, hold: bool = False, on_bare_close: Callable[[], None] | None = None
) -> Iterator[str]:
    """The answer part of a streamed reply, as it arrives. The rule: text is passed on once it cannot
    be thinking any more.

    - A reply opening with `<think>`: nothing until `</think>`, then the answer as it arrives.
    - `hold` (a model known or named to open the block in its prompt): nothing until `</think>`, then
      the answer; a reply that ends without one had no thinking and comes out whole at its end.
    - Otherwise the reply is taken for an answer and passed on live (waiting for a closing tag would
      hold every ordinary reply back to its end). A `</think>` that turns up anyway is never passed
      on, and `on_bare_close` is called so that the caller can hold this model's next replies back;
      the thinking already passed on cannot be taken back."""
    state, held = "start", ""  # start -> thinking | bare | live; thinking | bare -> after -> answer
    for piece in pieces:
        if state == "answer":
            yield piece
            continue
        held += piece
        if state == "start":
            head = held.lstrip()
            if OPEN.startswith(head):
                continue  # whitespace or a partial "<think": not decided yet
            if head.startswith(OPEN):
                state, held = "thinking", head[len(OPEN) :]
            else:
                state = "bare" if hold else "live"
        if state == "live":
            state, sent, held = _live(held, on_bare_close)
            if sent:
                yield sent
            if state == "live":
                continue
        if state in ("thinking", "bare"):
            # Only where the new piece can have completed the tag: long thinking stays linear.
            end = held.find(CLOSE, max(0, len(held) - len(piece) - len(CLOSE) + 1))
            if end == -1:
                continue
            if state == "bare" and on_bare_close is not None:
                on_bare_close()
            state, held = "after", held[end + len(CLOSE) :]
        held = held.lstrip()
        if held:
            state = "answer"
            yield held
    if state in ("start", "bare", "live") and held:
        yield held  # no think block after all (a reply cut off while thinking yields nothing)


def _live(held: str, on_bare_close: Callable[[], None] | None) -> tuple[str, str, str]:
    """(next state, text to pass on, text kept back) for a reply being passed on live: at a closing
    tag the thinking not yet passed on is dropped, and an end that may be the start of one is kept
    back until the next piece."""
    end = held.find(CLOSE)
    if end != -1:
        if on_bare_close is not None:
            on_bare_close()
        return "after", "", held[end + len(CLOSE) :]
    keep = next((n for n in range(len(CLOSE) - 1, 0, -1) if held.endswith(CLOSE[:n])), 0)
    return "live", held[: len(held) - keep], held[len(held) - keep :]
