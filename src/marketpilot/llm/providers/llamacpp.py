"""The embedded default: llama-cpp-python running a GGUF in this process (no server, no network)."""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import re
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from marketpilot.config import Settings
from marketpilot.errors import MissingExtraError
from marketpilot.llm.base import Message, Usage
from marketpilot.llm.errors import LLMError
from marketpilot.llm.model_files import MODEL_NAME, ModelFile, ensure_model
from marketpilot.llm.providers.base import GenerationParams, RawReply
from marketpilot.llm.providers.decode_threads import DecodeThreadTuner, candidate_counts

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    """One loaded model per (file, context, threads) per process: loading takes seconds and ~1.9 GB.
    llama.cpp contexts are not thread-safe, so the lock serialises generation; the tuner (None when
    the user set the threads) is only used under it."""

    llama: Any
    lock: threading.Lock
    tuner: DecodeThreadTuner | None


_LOADED: dict[tuple[Path, int, int, int, bool], _Loaded] = {}
_LOADED_LOCK = threading.Lock()


@atexit.register
def _free_loaded() -> None:
    """Frees the models while llama_cpp's module is intact: left to interpreter teardown, Llama.__del__
    finds its native functions already cleared and prints a TypeError."""
    with _LOADED_LOCK:
        for loaded in _LOADED.values():
            loaded.llama.close()
        _LOADED.clear()


# llama-cpp-python's JSON grammar lets a string character be a \uXXXX escape or a raw control
# character. The 1.5B model, once inside a long string, can spell Chinese as escapes (six characters and
# several tokens each) and run to max_tokens inside the schema's length bound; plain characters and the
# short escapes are all a reply needs.
_CHAR_RULE = re.compile(r"^char ::= .*$", re.M)
_PLAIN_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt])'


@lru_cache(maxsize=64)
def schema_grammar(schema_json: str) -> Any:
    """The GBNF grammar for a JSON schema, with string characters limited as above."""
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    gbnf = _CHAR_RULE.sub(lambda _: _PLAIN_CHAR, json_schema_to_gbnf(schema_json))
    return LlamaGrammar.from_string(gbnf, verbose=False)


def _new_llama(
    path: Path, n_ctx: int, n_threads: int, n_threads_batch: int, *, logits_all: bool = False
) -> Any:
    """A Llama with llama.cpp's "extra buffer types" (AMX / repacked weights) switched off: with them,
    decoding any batch of more than one token segfaults on CPUs that report AMX inside a VM (seen on
    our 2-core Xeon CI machine). llama-cpp-python has no argument for `use_extra_bufts`, so the default
    model params are wrapped while this one constructor runs (callers hold _LOADED_LOCK). `logits_all`
    keeps every position's logits (bench/reviews_channel.py scores a text's own tokens)."""
    import llama_cpp.llama_cpp as native
    from llama_cpp import Llama

    default_params = native.llama_model_default_params

    def params_without_extra_buffers() -> Any:
        params = default_params()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = params_without_extra_buffers
    try:
        return Llama(
            str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            logits_all=logits_all,
            verbose=False,
        )
    finally:
        native.llama_model_default_params = default_params


def _load(path: Path, n_ctx: int, n_threads: int, n_threads_batch: int, tune: bool) -> _Loaded:
    key = (path, n_ctx, n_threads, n_threads_batch, tune)
    with _LOADED_LOCK:
        if key not in _LOADED:
            log.info("loading %s (n_ctx=%d, threads=%d/%d)", path, n_ctx, n_threads, n_threads_batch)
            tuner = DecodeThreadTuner(candidate_counts(n_threads_batch)) if tune else None
            _LOADED[key] = _Loaded(
                _new_llama(path, n_ctx, n_threads, n_threads_batch), threading.Lock(), tuner
            )
        return _LOADED[key]


@contextmanager
def _timed_decode(loaded: _Loaded, n_threads_batch: int) -> Iterator[None]:
    """Runs one generation (the caller holds the lock) with the tuner's decode thread count and tells
    it how fast the decode went, from llama.cpp's own timer of single-token evaluations."""
    import llama_cpp

    if loaded.tuner is None:
        yield
        return
    ctx = loaded.llama._ctx.ctx
    threads = loaded.tuner.choose()
    llama_cpp.llama_set_n_threads(ctx, threads, n_threads_batch)
    before = llama_cpp.llama_perf_context(ctx)
    yield
    after = llama_cpp.llama_perf_context(ctx)
    # n_eval reads max(1, count): an empty counter and one evaluation look alike, both too few to record.
    loaded.tuner.record(threads, after.n_eval - before.n_eval, after.t_eval_ms - before.t_eval_ms)


class LlamaCppProvider:
    name = "llamacpp"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._file: ModelFile | None = None
        self._file_lock = threading.Lock()
        self.n_ctx = settings.llm_n_ctx
        cores = os.cpu_count() or 1
        # Prompt processing (big batched matmuls) uses every core. The decode thread count is chosen
        # by measuring (decode_threads.py) unless MARKETPILOT_LLM_THREADS sets both.
        self.n_threads_batch = settings.llm_threads or cores
        self.n_threads = settings.llm_threads or max(1, cores // 2)
        self.tune_threads = settings.llm_threads is None

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppProvider:
        # Checked now (cheap) so a missing extra fails at get_client, not in the middle of a batch.
        if importlib.util.find_spec("llama_cpp") is None:
            raise MissingExtraError("llama-cpp-python", "llm-local")
        return cls(settings)

    @property
    def model(self) -> str:
        if self._settings.llm_model_path is not None:
            return self._settings.llm_model_path.stem
        return MODEL_NAME

    @property
    def model_file(self) -> ModelFile:
        """Resolved (and on first use assembled + verified) when the first generation needs it."""
        with self._file_lock:
            if self._file is None:
                self._file = ensure_model(self._settings)
            return self._file

    def decode_ms_per_token(self) -> dict[int, float]:
        """The tuner's current estimate per decode thread count (empty when the threads are fixed or
        nothing was generated yet)."""
        loaded = self._loaded()
        with loaded.lock:
            return dict(loaded.tuner.ms_per_token) if loaded.tuner is not None else {}

    def _loaded(self) -> _Loaded:
        return _load(
            self.model_file.path, self.n_ctx, self.n_threads, self.n_threads_batch, self.tune_threads
        )

    def _kwargs(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        return {
            "messages": [m.model_dump() for m in messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stop": list(params.stop or []),
            "seed": params.seed,
            "frequency_penalty": params.frequency_penalty,
        }

    def generate(
        self, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None
    ) -> RawReply:
        loaded = self._loaded()
        kwargs = self._kwargs(messages, params)
        if json_schema is not None:
            # A grammar built from the schema: the sampler can only emit JSON of that shape.
            # Keys keep the schema's order: the grammar makes the model write the fields in that order.
            kwargs["grammar"] = schema_grammar(json.dumps(json_schema))
        try:
            with loaded.lock, _timed_decode(loaded, self.n_threads_batch):
                response = loaded.llama.create_chat_completion(**kwargs)
        except (ValueError, RuntimeError) as exc:  # e.g. prompt longer than the context window
            raise LLMError(f"llama.cpp could not generate: {exc}", raw=str(exc)) from exc
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return RawReply(
            text=choice["message"].get("content") or "",
            model=self.model,
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
            ),
            finish_reason=choice.get("finish_reason"),
        )

    def stream(self, messages: list[Message], params: GenerationParams) -> Generator[str, None, None]:
        loaded = self._loaded()
        with loaded.lock, _timed_decode(loaded, self.n_threads_batch):
            try:
                for chunk in loaded.llama.create_chat_completion(
                    **self._kwargs(messages, params), stream=True
                ):
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"llama.cpp could not generate: {exc}", raw=str(exc)) from exc

    def label_logprobs(self, messages: list[Message], prefix: str, labels: Sequence[str]) -> dict[str, float]:
        """log P(each label's first token | the chat, then `prefix` opening the assistant's turn), read
        from the logits of one prompt evaluation: no sampling, no grammar. Calls share their longest
        common token prefix through the KV cache, so a fixed system prompt is evaluated once."""
        import numpy as np

        loaded = self._loaded()
        llama = loaded.llama
        text = _chat_prompt(llama, [m.model_dump() for m in messages]) + prefix
        tokens = llama.tokenize(text.encode(), add_bos=False, special=True)
        if len(tokens) >= self.n_ctx:
            raise LLMError(f"llama.cpp: the prompt ({len(tokens)} tokens) does not fit n_ctx={self.n_ctx}")
        first = [llama.tokenize(label.encode(), add_bos=False, special=False)[0] for label in labels]
        with loaded.lock:
            cached = llama.input_ids[: llama.n_tokens]
            common = 0
            for a, b in zip(cached, tokens, strict=False):
                if a != b:
                    break
                common += 1
            # At least one token is evaluated: the logits are those of the last one.
            llama.n_tokens = min(common, len(tokens) - 1)
            llama.eval(tokens[llama.n_tokens :])
            logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(
                np.float64
            )
        top = logits.max()
        log_z = top + np.log(np.exp(logits - top).sum())
        return {label: float(logits[i] - log_z) for label, i in zip(labels, first, strict=True)}

    def close(self) -> None:
        """Nothing to do: the loaded model is shared by every client of this process."""


def _chat_prompt(llama: Any, messages: list[dict[str, str]]) -> str:
    """The conversation as the model's own chat template renders it, up to the assistant's turn
    (ChatML, Qwen's format, when the GGUF carries no template)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return turns + "<|im_start|>assistant\n"
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
    )
    return formatter(messages=messages).prompt
