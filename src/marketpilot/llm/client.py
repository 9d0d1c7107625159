"""The client every feature uses: one provider behind retries, a circuit breaker, an optional fallback,
structured-output validation, the completion cache and the ledger."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from marketpilot.config import Settings
from marketpilot.llm.base import Completion, LLMRequest, Message, PromptRef, Usage
from marketpilot.llm.errors import LLMError, LLMOutputError, LLMTransientError, LLMUnavailableError
from marketpilot.llm.logdb import LLMLog, cache_key
from marketpilot.llm.providers import GenerationParams, Provider, RawReply, create_provider
from marketpilot.llm.reasoning import answer_pieces, closes_only, may_think_in_prompt, split_reasoning
from marketpilot.llm.resilience import CircuitBreaker, RetryPolicy
from marketpilot.llm.structured import InvalidOutput, parse_output, repair_messages, with_schema_instruction

_T = TypeVar("_T")
ResultCallback = Callable[[int, Completion | LLMError], None]


class _Guarded:
    """A provider with its own circuit breaker."""

    def __init__(self, provider: Provider, breaker: CircuitBreaker) -> None:
        self.provider = provider
        self.breaker = breaker


@dataclass
class _Spent:
    """What the provider round trips of one `complete` call cost, and who answered last."""

    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    trips: int = 0

    def add(self, reply: RawReply, provider: str, trips: int) -> None:
        self.provider, self.model = provider, reply.model
        self.trips += trips
        self.usage = Usage(
            prompt_tokens=self.usage.prompt_tokens + reply.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens + reply.usage.completion_tokens,
        )


class Client:
    """Implements `LLMClient`. Build it with `get_client(settings)`."""

    def __init__(
        self,
        provider: Provider,
        *,
        fallback: Provider | None = None,
        log: LLMLog | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        output_retries: int = 2,
        prices: dict[str, dict[str, float]] | None = None,
        language: str = "zh",
        default_concurrency: int = 8,
        cache: bool = True,
    ) -> None:
        self._primary = _Guarded(provider, breaker or CircuitBreaker())
        self._fallback = _Guarded(fallback, CircuitBreaker()) if fallback is not None else None
        self.log = log
        self.retry = retry or RetryPolicy()
        self.output_retries = output_retries
        self.prices = prices or {}
        self.language = language
        self.default_concurrency = default_concurrency
        self.cache_enabled = cache and log is not None
        # Models seen answering with only a closing </think>: their streams are held back until it.
        self._closes_think: set[str] = set()

    @property
    def provider(self) -> str:
        return self._primary.provider.name

    @property
    def model(self) -> str:
        return self._primary.provider.model

    def _model_if_known(self) -> str | None:
        """The model, or None when finding it out failed (a server that is down cannot list its models):
        the call itself then asks again, with retries and the fallback. Not asked while the circuit is
        open: a server that swallows connections would cost each call a connect timeout first."""
        if self._primary.breaker.state == "open":
            return None
        try:
            return self.model
        except LLMError:
            return None

    @property
    def breaker(self) -> CircuitBreaker:
        return self._primary.breaker

    def cost(self, model: str, usage: Usage) -> float:
        price = self.prices.get(model, {})
        return (
            usage.prompt_tokens * price.get("input", 0.0) + usage.completion_tokens * price.get("output", 0.0)
        ) / 1e6

    # -- one provider round trip, with retries and the breaker -------------------------------------

    def _call_guarded(
        self,
        guarded: _Guarded,
        messages: list[Message],
        params: GenerationParams,
        schema: dict[str, Any] | None,
    ) -> tuple[RawReply, int]:
        return self._retrying(guarded, lambda provider: provider.generate(messages, params, schema))

    def _retrying(self, guarded: _Guarded, call: Callable[[Provider], _T]) -> tuple[_T, int]:
        """(result, round trips): `call` on the provider, retried on transient errors, breaker-guarded."""
        attempt = 0
        while True:
            trial = guarded.breaker.before_call(guarded.provider.name)
            try:
                result = call(guarded.provider)
            except BaseException as exc:
                guarded.breaker.settle(trial, exc)
                if not isinstance(exc, LLMTransientError):
                    raise
                if (wait := self.retry.delay_s(attempt, exc)) is None:
                    if (exc.retry_after_s or 0.0) > self.retry.max_retry_after_s:
                        raise LLMTransientError(
                            f"{exc}; the server asks to wait {exc.retry_after_s:.0f} s (Retry-After), "
                            f"longer than the {self.retry.max_retry_after_s:.0f} s a call waits: try again "
                            "later, or lower the request rate",
                            raw=exc.raw,
                            status=exc.status,
                            retry_after_s=exc.retry_after_s,
                        ) from exc
                    raise
                attempt += 1
                time.sleep(wait)
                continue
            guarded.breaker.settle(trial)
            return result, attempt + 1

    def _call(
        self, messages: list[Message], params: GenerationParams, schema: dict[str, Any] | None
    ) -> tuple[RawReply, str, int]:
        """(reply, provider name, round trips). Falls back only when the primary is unreachable, not
        when its output is bad: a weaker fallback model would not fix a prompt problem."""
        try:
            reply, trips = self._call_guarded(self._primary, messages, params, schema)
            return reply, self._primary.provider.name, trips
        except (LLMTransientError, LLMUnavailableError) as primary_error:
            if self._fallback is None:
                raise
            try:
                reply, trips = self._call_guarded(self._fallback, messages, params, schema)
            except LLMError as fallback_error:
                raise fallback_error from primary_error
            return reply, self._fallback.provider.name, trips

    # -- the public API ------------------------------------------------------------------------------

    def complete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 512,
        seed: int | None = None,
        stop: list[str] | None = None,
        prompt: PromptRef | None = None,
        use_cache: bool = True,
        frequency_penalty: float = 0.0,
    ) -> Completion:
        """See `LLMClient`. `use_cache=False` forces a real round trip (health checks, benchmarks)."""
        started = time.perf_counter()
        params = GenerationParams(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            stop=tuple(stop) if stop else None,
            frequency_penalty=frequency_penalty,
        )
        json_schema = schema.model_json_schema() if schema is not None else None
        # Only deterministic requests are cached: with sampling on, callers ask again to get a different
        # text (e.g. several copy variants), and a cache would silently hand back the same one.
        model = self._model_if_known()
        cacheable = (
            use_cache and self.cache_enabled and (seed is not None or temperature == 0) and model is not None
        )
        key = (
            cache_key(self.provider, model or "", prompt, messages, params, json_schema) if cacheable else ""
        )
        if cacheable and (hit := self._from_cache(key, schema, prompt, started)) is not None:
            return hit

        spent = _Spent(provider=self.provider, model=model or "unknown")
        language = prompt.language if prompt else self.language
        try:
            reply, parsed = self._generate(messages, params, schema, json_schema, language, spent)
        except LLMError as exc:
            spent.trips = max(spent.trips, 1)  # at least the round trip that failed
            self._record(spent, prompt, "error", started, error=str(exc))
            raise

        completion = Completion(
            text=reply.text,
            parsed=parsed,
            usage=spent.usage,
            latency_s=time.perf_counter() - started,
            provider=spent.provider,
            model=spent.model,
            prompt=prompt,
            cost=self.cost(spent.model, spent.usage),
            finish_reason=reply.finish_reason,
        )
        # A fallback's answer is not cached under the primary's key: the primary may answer better later.
        if cacheable and self.log is not None and spent.provider == self.provider:
            self.log.put(key, completion)
        self._record(spent, prompt, "ok", started, cost=completion.cost)
        return completion

    def _generate(
        self,
        messages: list[Message],
        params: GenerationParams,
        schema: type[BaseModel] | None,
        json_schema: dict[str, Any] | None,
        language: str,
        spent: _Spent,
    ) -> tuple[RawReply, BaseModel | None]:
        """The reply (and validated object): on invalid output, the reply and its problems go back into
        the conversation, at most `output_retries` times; then LLMOutputError with the raw text."""
        sent = with_schema_instruction(messages, json_schema, language) if json_schema else list(messages)
        for _ in range(self.output_retries + 1):
            reply, provider_name, round_trips = self._call(sent, params, json_schema)
            spent.add(reply, provider_name, round_trips)
            answer, reasoning = split_reasoning(reply.text)
            if closes_only(reply.text):
                self._closes_think.add(reply.model)
            if reasoning is not None:
                reply = dataclasses.replace(reply, text=answer)
            if not reply.text.strip() and reply.finish_reason == "length":
                # Repairing would not help: the limit, not the model, is what cut the answer off.
                raise LLMOutputError(
                    f"{provider_name}/{reply.model}: the reply was cut off at max_tokens={params.max_tokens} "
                    "before any answer (a reasoning model can spend them all thinking): raise max_tokens",
                    raw=reasoning,
                    problems=["no answer before max_tokens"],
                )
            if schema is None:
                return reply, None
            try:
                return reply, parse_output(reply.text, schema)
            except InvalidOutput as invalid:
                truncated = reply.finish_reason == "length"
                sent = [*sent, *repair_messages(reply.text, invalid, truncated=truncated, language=language)]
                last_invalid = invalid
        cut = " (cut off at max_tokens; raise max_tokens)" if reply.finish_reason == "length" else ""
        raise LLMOutputError(
            f"{spent.provider}/{spent.model}: no reply matched {schema.__name__} after "
            f"{self.output_retries + 1} attempts{cut}: {last_invalid}",
            raw=reply.text,
            problems=last_invalid.problems,
        )

    def _from_cache(
        self, key: str, schema: type[BaseModel] | None, prompt: PromptRef | None, started: float
    ) -> Completion | None:
        assert self.log is not None
        hit = self.log.get(key)
        if hit is None:
            return None
        hit.prompt = prompt
        try:
            hit.parsed = parse_output(hit.text, schema) if schema is not None else None
        except InvalidOutput:
            return None  # the model's validators changed since: ask again (the new answer replaces it)
        hit.latency_s = time.perf_counter() - started
        # Cached answers spend no tokens: the ledger row says so.
        self._record(_Spent(provider=hit.provider, model=hit.model), prompt, "cached", started)
        return hit

    def _record(
        self,
        spent: _Spent,
        prompt: PromptRef | None,
        status: str,
        started: float,
        *,
        cost: float = 0.0,
        error: str | None = None,
    ) -> None:
        if self.log is not None:
            self.log.record(
                provider=spent.provider,
                model=spent.model,
                prompt=prompt,
                status=status,
                attempts=spent.trips,
                usage=spent.usage,
                latency_s=time.perf_counter() - started,
                cost=cost,
                error=error,
            )

    def complete_many(
        self,
        requests: list[LLMRequest],
        *,
        concurrency: int | None = None,
        on_result: ResultCallback | None = None,
    ) -> list[Completion | LLMError]:
        """One result per request, in request order: a Completion or the LLMError that ended it
        (with `.index` set). `on_result(index, result)` is called as each finishes (progress bars)."""
        results: list[Completion | LLMError | None] = [None] * len(requests)
        callback_lock = threading.Lock()

        def run(index: int) -> None:
            request = requests[index]
            result: Completion | LLMError
            try:
                result = self.complete(
                    request.messages,
                    schema=request.schema_model,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    max_tokens=request.max_tokens,
                    seed=request.seed,
                    stop=request.stop,
                    prompt=request.prompt,
                    frequency_penalty=request.frequency_penalty,
                )
            except LLMError as exc:
                exc.index = index
                result = exc
            results[index] = result
            if on_result is not None:
                with callback_lock:
                    on_result(index, result)

        workers = max(1, min(concurrency or self.default_concurrency, len(requests)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            # list() re-raises the first non-LLM exception (a bug), after the pool finished the rest.
            list(pool.map(run, range(len(requests))))
        return [r for r in results if r is not None]

    def label_logprobs(self, messages: list[Message], prefix: str, labels: Sequence[str]) -> dict[str, float]:
        """log P(label) of each label as what the model writes right after `prefix` (e.g. '{"label": "'),
        from the provider's token probabilities: one evaluation, no sampling, so the answer is a
        calibrated score rather than a coin-flip near 50/50. Retried and breaker-guarded like
        `complete`; not cached (scores are cheap to recompute and not text). No fallback: another
        model's probabilities are on another scale, and one batch must not mix two."""
        scorer = self._primary.provider
        if not hasattr(scorer, "label_logprobs"):
            raise LLMError(
                f"provider {scorer.name!r} cannot read token probabilities: use llamacpp, or "
                "openai_compat with a server that returns logprobs"
            )
        scores, _ = self._retrying(
            self._primary,
            lambda provider: provider.label_logprobs(messages, prefix, labels),  # type: ignore[attr-defined]
        )
        return scores

    def stream(
        self,
        messages: list[Message],
        *,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 512,
        seed: int | None = None,
        stop: list[str] | None = None,
        prompt: PromptRef | None = None,
    ) -> Generator[str, None, None]:
        """Text pieces of the answer as the model produces them (chat UIs, time to first token).
        Retried on transient errors only until the first piece is out: text already shown cannot be
        taken back. Thinking is left out (see `answer_pieces` for when pieces are held back). The
        ledger counts the server's streamed pieces, thinking included, as completion tokens."""
        started = time.perf_counter()
        params = GenerationParams(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            stop=tuple(stop) if stop else None,
        )
        guarded, model = self._primary, self.model
        spent = _Spent(provider=self.provider, model=model)
        hold = may_think_in_prompt(model) or model in self._closes_think

        def counted(pieces: Generator[str, None, None]) -> Generator[str, None, None]:
            for piece in pieces:
                spent.usage.completion_tokens += 1
                yield piece

        attempt, shown = 0, False
        while True:
            try:
                trial = guarded.breaker.before_call(guarded.provider.name)
            except LLMUnavailableError as exc:
                if spent.trips:  # opened while this stream was retrying
                    self._record(spent, prompt, "error", started, error=str(exc))
                raise
            spent.trips += 1
            pieces = guarded.provider.stream(messages, params)
            try:
                for piece in answer_pieces(
                    counted(pieces), hold=hold, on_bare_close=lambda: self._closes_think.add(model)
                ):
                    shown = True
                    yield piece
            except GeneratorExit:
                # The caller stopped reading; pieces had arrived, so the provider works.
                guarded.breaker.settle(trial)
                self._record(spent, prompt, "ok", started, cost=self.cost(model, spent.usage))
                raise
            except BaseException as exc:
                guarded.breaker.settle(trial, exc)
                wait = (
                    None
                    if shown or not isinstance(exc, LLMTransientError)
                    else self.retry.delay_s(attempt, exc)
                )
                if wait is not None:
                    attempt += 1
                    time.sleep(wait)
                    continue
                if isinstance(exc, LLMError):
                    self._record(spent, prompt, "error", started, error=str(exc))
                raise
            finally:
                # Ends the HTTP stream (or frees the embedded model's lock) now, not at garbage collection.
                pieces.close()
            break
        guarded.breaker.settle(trial)
        self._record(spent, prompt, "ok", started, cost=self.cost(model, spent.usage))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close HTTP connections and the ledger database (the embedded model stays loaded)."""
        self._primary.provider.close()
        if self._fallback is not None:
            self._fallback.provider.close()
        if self.log is not None:
            self.log.close()


def get_client(
    settings: Settings, *, retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None
) -> Client:
    """The configured client: MARKETPILOT_LLM_PROVIDER (+ _BASE_URL, _MODEL, _API_KEY, _FALLBACK_PROVIDER)."""
    primary = create_provider(settings.llm_provider, settings)
    fallback_name = settings.llm_fallback_provider
    fallback = (
        create_provider(fallback_name, settings) if fallback_name and fallback_name != primary.name else None
    )
    return Client(
        primary,
        fallback=fallback,
        log=LLMLog(settings.path("llm.sqlite")),
        retry=retry or RetryPolicy(max_retries=settings.llm_max_retries),
        breaker=breaker,
        prices=settings.llm_prices,
        language=settings.language,
        default_concurrency=settings.llm_concurrency,
        cache=settings.llm_cache,
    )
