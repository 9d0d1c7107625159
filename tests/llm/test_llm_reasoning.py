"""`answer_pieces` on real reasoning-model replies, cut into pieces at every possible place: however a
server splits the text (a tag across two pieces included), the answer is the same and the thinking
never gets out where the rule says it must not."""

from __future__ import annotations

import pytest

from marketpilot.llm.reasoning import answer_pieces, closes_only, may_think_in_prompt, split_reasoning

ANSWER = "保温12小时，冬天也暖心。"
REPLIES = {
    "opened": "<think>\n用户要一句话。\n</think>\n\n" + ANSWER,
    "bare": "用户要一句话，{12小时}。\n</think>\n\n" + ANSWER,
    "none": ANSWER,
    "cut-while-thinking": "<think>\n用户要一句",
}


def splits(text: str) -> list[list[str]]:
    """The text as one piece, and as two and three pieces cut at every place."""
    cuts = [[text]] + [[text[:i], text[i:]] for i in range(1, len(text))]
    return cuts + [
        [text[:i], text[i:j], text[j:]] for i in range(1, len(text)) for j in range(i + 1, len(text))
    ]


@pytest.mark.parametrize("name", list(REPLIES))
def test_held_back_streams_yield_what_split_reasoning_keeps(name: str) -> None:
    text = REPLIES[name]
    answer, _ = split_reasoning(text)
    for pieces in splits(text):
        assert "".join(answer_pieces(iter(pieces), hold=True)) == answer, pieces


@pytest.mark.parametrize("name", ["opened", "none", "cut-while-thinking"])
def test_live_streams_of_replies_that_open_their_thinking_yield_the_answer_only(name: str) -> None:
    text = REPLIES[name]
    for pieces in splits(text):
        assert "".join(answer_pieces(iter(pieces))) == split_reasoning(text)[0], pieces


def test_a_live_stream_never_passes_on_a_bare_closing_tag_and_says_it_saw_one() -> None:
    text = REPLIES["bare"]
    for pieces in splits(text):
        seen: list[bool] = []
        out = list(answer_pieces(iter(pieces), on_bare_close=lambda seen=seen: seen.append(True)))
        joined, thinking = "".join(out), text.split("</think>")[0]
        # the thinking passed on before the tag's piece cannot be taken back; the rest of it is dropped
        assert joined.endswith(ANSWER) and thinking.startswith(joined[: -len(ANSWER)]), pieces
        assert seen == [True] and not any("<" in piece for piece in out)


def test_a_held_back_stream_passes_nothing_on_before_the_closing_tag() -> None:
    text = REPLIES["bare"]
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    out = list(answer_pieces(iter(pieces), hold=True))
    assert out[0].startswith("保温") and "".join(out) == ANSWER


def test_closes_only_and_model_names() -> None:
    assert closes_only(REPLIES["bare"]) and not closes_only(REPLIES["opened"]) and not closes_only(ANSWER)
    thinking = ["deepseek-r1:14b", "DeepSeek-R1-0528", "Qwen/QwQ-32B", "Qwen3-30B-A3B-Thinking-2507"]
    assert all(may_think_in_prompt(m) for m in [*thinking, "deepseek-reasoner"])
    assert not any(may_think_in_prompt(m) for m in ["qwen2.5:7b", "gpt-4o-mini", "r10-model", "test-model"])
