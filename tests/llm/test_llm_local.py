"""The embedded llama.cpp provider for real: the verified bundled model, short generations in Chinese
and English, and a schema-constrained object. Generations are kept short (~27 tokens/s on 2 cores)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from marketpilot.config import get_settings
from marketpilot.errors import UserError
from marketpilot.llm import Client, Message, get_client, load_prompt
from marketpilot.llm.model_files import MODEL_NAME, MODEL_SHA256, assemble, ensure_model, part_paths
from marketpilot.llm.providers.decode_threads import candidate_counts
from marketpilot.llm.providers.llamacpp import LlamaCppProvider

pytest.importorskip("llama_cpp", reason="the llm-local extra is part of `make test`")


class ProductTag(BaseModel):
    title: str = Field(min_length=2, max_length=30)
    price_yuan: int = Field(ge=0)
    tags: list[str] = Field(min_length=1, max_length=3)


@pytest.fixture(scope="module")
def local_client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    home = tmp_path_factory.mktemp("llm-local-home")
    return get_client(get_settings(home, llm_provider="llamacpp", llm_model_path=None))


@pytest.mark.slow
def test_chinese_free_text(local_client: Client) -> None:
    prompt = load_prompt("llm_check", "zh")
    completion = local_client.complete(
        prompt.render(product="不锈钢保温杯"), temperature=0, max_tokens=48, prompt=prompt.ref
    )
    assert re.search(r"[\u4e00-\u9fff]{4}", completion.text), completion.text
    assert completion.provider == "llamacpp" and completion.model == MODEL_NAME
    assert 0 < completion.usage.completion_tokens <= 48 and completion.usage.prompt_tokens > 10


@pytest.mark.slow
def test_english_free_text_stops_at_max_tokens(local_client: Client) -> None:
    completion = local_client.complete(
        [Message(role="user", content="Describe a stainless steel thermos for an online shop.")],
        temperature=0.7,
        seed=11,
        max_tokens=12,
    )
    assert re.search(r"[A-Za-z]{3,}", completion.text) and completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 12


@pytest.mark.slow
def test_schema_constrained_object_validates(local_client: Client) -> None:
    completion = local_client.complete(
        [Message(role="user", content="为一款售价89元的不锈钢保温杯生成商品标签。")],
        schema=ProductTag,
        temperature=0,
        max_tokens=96,
    )
    assert isinstance(completion.parsed, ProductTag)
    assert completion.parsed.price_yuan == 89


def test_schema_grammar_has_no_unicode_escapes_or_control_characters() -> None:
    """A string character is a plain character or a short escape: no \\uXXXX spelling of Chinese
    (six characters each, with which the 1.5B model once ran to max_tokens inside a string)."""
    import json

    from marketpilot.llm.providers.llamacpp import schema_grammar

    grammar = schema_grammar(json.dumps(ProductTag.model_json_schema()))._grammar
    (char,) = [line for line in grammar.splitlines() if line.startswith("char ::=")]
    assert '"u"' not in char and "\\x00-\\x1F" in char
    assert "price_yuan" in grammar


def test_bundled_model_is_the_verified_official_file(tmp_path: Path) -> None:
    model = ensure_model(get_settings(tmp_path, llm_model_path=None))
    assert model.verified and model.name == MODEL_NAME
    stamp = model.path.with_suffix(".verified").read_text()
    assert stamp.split()[0] == MODEL_SHA256 and int(stamp.split()[1]) == model.path.stat().st_size


@pytest.mark.slow
def test_a_corrupted_model_file_is_rebuilt_not_loaded_once_by_processes_starting_together(
    tmp_path: Path,
) -> None:
    """Two processes (test workers, two jobs) find the corrupt file at once: one rebuilds it while the
    other waits, then finds it verified; each had rebuilt it, writing 1.1 GB twice."""
    settings = get_settings(tmp_path / "home", cache_dir=tmp_path / "cache", llm_model_path=None)
    target = settings.cache_path("models", f"{MODEL_NAME}.gguf")
    target.write_bytes(b"GGUF but not the real weights")
    script = (
        "import logging, sys; from marketpilot.config import get_settings; "
        "from marketpilot.llm.model_files import ensure_model; "
        "logging.basicConfig(level=logging.INFO, format='%(message)s'); "
        "model = ensure_model(get_settings(sys.argv[1], cache_dir=sys.argv[2], llm_model_path=None)); "
        "print(model.path, model.verified)"
    )
    command = [sys.executable, "-c", script, str(tmp_path / "home"), str(tmp_path / "cache")]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    said = [child.communicate(timeout=600) for child in children]
    assert [child.returncode for child in children] == [0, 0], said
    assert [out for out, _ in said] == [f"{target} True\n"] * 2
    assert sum(err.count("assembling") for _, err in said) == 1, said
    model = ensure_model(settings)
    digest = hashlib.sha256()
    with model.path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    assert digest.hexdigest() == MODEL_SHA256
    assert not list(target.parent.glob("*.part"))


def test_user_model_path_is_used_without_hash_check(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    own = tmp_path / "my-shop-model.gguf"
    own.write_bytes(b"GGUF")
    model = ensure_model(get_settings(tmp_path, llm_model_path=own))
    assert (model.path, model.name, model.verified) == (own, "my-shop-model", False)
    assert str(own) in caplog.text and "not hash-checked" in caplog.text
    with pytest.raises(UserError, match="not a file"):
        ensure_model(get_settings(tmp_path, llm_model_path=tmp_path / "missing.gguf"))


def test_parts_that_do_not_hash_to_the_official_file_are_refused(tmp_path: Path) -> None:
    """The real part files, one left out and two swapped: the assembled bytes differ, so nothing loads."""
    parts = part_paths()
    wrong = [parts[1], parts[0], *parts[2:-1]]
    target = tmp_path / "model.gguf"
    with pytest.raises(UserError, match="refusing to use it"):
        assemble(target, wrong)
    assert list(tmp_path.iterdir()) == []  # neither the model, nor a stamp, nor the temporary file


@pytest.mark.slow
def test_label_logprobs_rank_labels_and_do_not_depend_on_the_cached_prefix(local_client: Client) -> None:
    prompt = load_prompt("review_sentiment", "zh")
    good, bad = (
        prompt.render(text=t) for t in ("物流很快，质量很好，下次还买", "质量太差了，用一天就坏，退货")
    )

    def margin(messages: list[Message]) -> float:
        scores = local_client.label_logprobs(messages, '{"label": "', ("pos", "neg"))
        assert all(s < 0 for s in scores.values())  # log-probabilities over the whole vocabulary
        return scores["pos"] - scores["neg"]

    first = margin(good)
    assert first > 1.0 and margin(bad) < -1.0
    # The second call reused the shared system prompt from the KV cache; the third reuses the bad
    # review's prefix only up to where the texts differ. Same scores as a cold evaluation.
    assert margin(good) == pytest.approx(first, abs=0.05)


@pytest.mark.slow
def test_decode_threads_are_measured_for_every_candidate(tmp_path: Path) -> None:
    # llm_threads=None: the default (tuned), whatever the environment sets (make test's workers set it)
    settings = get_settings(tmp_path, llm_provider="llamacpp", llm_model_path=None, llm_threads=None)
    client = get_client(settings)
    provider = LlamaCppProvider.from_settings(settings)  # same settings: the client's loaded model
    counts = candidate_counts(os.cpu_count() or 1)
    for i in range(len(counts)):
        client.complete(
            [Message(role="user", content=f"用一句话介绍第{i + 1}款保温杯。")],
            temperature=0,
            max_tokens=12,
            use_cache=False,
        )
    speeds = provider.decode_ms_per_token()
    assert set(speeds) == set(counts)  # llama.cpp's decode timer was read for each thread count
    assert all(1 < ms < 10_000 for ms in speeds.values()), speeds


def test_set_threads_are_used_as_given_and_not_tuned(tmp_path: Path) -> None:
    provider = LlamaCppProvider.from_settings(get_settings(tmp_path, llm_provider="llamacpp", llm_threads=3))
    assert (provider.n_threads, provider.n_threads_batch, provider.tune_threads) == (3, 3, False)
