"""Reasoning models (DeepSeek-R1, Qwen3, QwQ) served without a reasoning parser put their thinking in
the reply itself: `<think>…</think>` before the answer. Callers want the answer only: the thinking is
not marketing copy, and its braces would confuse the JSON extraction of structured output."""

from __future__ import annotations

from collections.abc import Iterator

OPEN, CLOSE = "<think>", "</think>"


def split_reasoning(text: str) -> tuple[str, str | None]:
    """(answer, reasoning); reasoning is None when the reply has no think block. A reply cut off while
    still thinking has an empty answer. R1-style chat templates open the block in the prompt, so the
    reply may carry only the closing tag."""
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


def answer_pieces(pieces: Iterator[str]) -> Iterator[str]:
    """A streamed reply without a leading think block: held back until it is clear whether the reply
    opens one, then passed through as it arrives. (A reply carrying only the closing tag cannot be
    recognised before it ends, so a stream keeps that one.)"""
    state, held = "start", ""  # start -> (thinking -> after) -> answer
    for piece in pieces:
        if state == "answer":
            yield piece
            continue
        held += piece
        if state == "start":
            head = held.lstrip()
            if OPEN.startswith(head):
                continue  # whitespace or a partial "<think": not decided yet
            if not head.startswith(OPEN):
                state = "answer"
                yield held
                continue
            state, held = "thinking", head[len(OPEN) :]
        if state == "thinking":
            end = held.find(CLOSE)
            if end == -1:
                continue
            state, held = "after", held[end + len(CLOSE) :]
        held = held.lstrip()
        if held:
            state = "answer"
            yield held
    if state == "start" and held:
        yield held
