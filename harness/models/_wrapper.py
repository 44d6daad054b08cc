"""The one wrapper every backend runs behind: budget, response cache, retries, concurrency, cost.

``HarnessModel.sample`` does, in order: validate the parameters; check the :class:`Budget`; look the
samples up in the :class:`ResponseCache`; send requests for the missing ones (through a semaphore that
caps requests in flight, retried with jittered exponential backoff); price each completion; commit
each response to the cache as it arrives; record the call in the :class:`CostMeter`.

Which samples a call gets. With a ``seed``, a call asks for samples ``0..n-1`` of its key, so the
same call returns the same samples (a later larger ``n`` only tops up). Without a seed, successive
identical calls in one process draw successive indices (``0..n-1``, then ``n..2n-1``, ...), so each
gets fresh samples, and a rerun of the same program replays the same sequence from the cache. A top-up
request for samples from index ``i > 0`` on uses a seed derived from ``(seed, i)`` so that a seeded
provider does not repeat the stored samples.

Identical requests in flight are sent once (single flight). A sample, ``(key, index)``, that another
call is fetching right now is awaited rather than requested again, and counts as a cache hit
(``cached=True``: no request, no paid dollars; :attr:`HarnessModel.merged` counts them). The rule for a
failed leader is in :meth:`HarnessModel._cached`. Only cached calls merge: they are the ones with a key,
and the key is what makes two calls the same one (an unseeded call draws its own indices, so it is never
merged with another; without a cache nothing is). Without a cache no key is computed at all.

Retries: :class:`TransientFailure` (429, 5xx, timeouts, dropped connections) up to
``RetryPolicy.attempts`` attempts, waiting the larger of the jittered backoff and ``Retry-After``;
:class:`ModelResponseError` (malformed or truncated body) once more; nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_random_exponential

from harness.errors import ModelResponseError, ModelTransientError
from harness.models._accounting import Spend
from harness.models._backend import Backend, messages_tokens
from harness.models._budget import ALL_STAGES, Budget, CostMeter
from harness.models._cache import FlightAbandoned, InFlight, ResponseCache, cache_key
from harness.models._errors import TransientFailure
from harness.models._pricing import Price
from harness.models._types import Completion, Message, SampleParams, Usage

log = logging.getLogger(__name__)


class RetryPolicy(BaseModel):
    """How hard to try before a transient failure becomes :class:`ModelTransientError`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=6, ge=1)
    """Attempts per request, the first included."""
    backoff_base: float = Field(default=0.5, ge=0)
    """Seconds; the k-th wait is drawn uniformly from ``[0, base * 2**k]`` (full jitter)."""
    backoff_max: float = Field(default=30.0, ge=0)
    """Upper bound of one backoff wait, seconds."""
    max_retry_after: float = Field(default=120.0, ge=0)
    """A longer ``Retry-After`` is cut to this, seconds."""
    response_error_retries: int = Field(default=1, ge=0)
    """Extra attempts after a malformed or truncated response."""


Sleep = Callable[[float], Awaitable[None]]


class HarnessModel:
    """A :class:`~harness.models.Model` over any :class:`Backend`. Build it with ``harness.models.load``."""

    def __init__(
        self,
        backend: Backend,
        *,
        name: str,
        price: Price,
        cache: ResponseCache | None = None,
        meter: CostMeter | None = None,
        budget: Budget | None = None,
        stage: str = "default",
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.backend = backend
        self.price = price
        self.cache = cache
        self.budget = budget
        self.meter = meter if meter is not None else (budget.meter if budget is not None else CostMeter())
        self.stage = stage
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency or backend.default_concurrency
        self.sleep: Sleep = asyncio.sleep
        """What waits between attempts (tests replace it to observe the waits)."""
        self._shared = _Shared()

    @property
    def attempts(self) -> int:
        """Provider requests attempted by this model and its stage views, retries included."""
        return self._shared.attempts

    @property
    def merged(self) -> int:
        """Samples this model and its views got by awaiting an identical request already in flight."""
        return self._shared.merged

    def for_stage(self, stage: str, *, budget: Budget | None = None) -> HarnessModel:
        """A view of this model that records into ``stage`` (same backend, cache, limit and meter)."""
        view = HarnessModel.__new__(HarnessModel)
        view.__dict__.update(self.__dict__)
        view.stage = stage
        if budget is not None:
            view.budget = budget
        return view

    async def sample(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[Completion]:
        params = SampleParams(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=tuple(stop) if stop else None,
            seed=seed,
            logprobs=logprobs,
        )
        if self.budget is None:
            return await self._paid_for(messages, params)
        # Calls in flight hold their worst case in the budget's meter, so concurrent calls cannot all
        # pass a limit that only one of them fits under (see harness.models._budget).
        budget, stage = self.budget, self.budget.stage if self.budget.stage != ALL_STAGES else self.stage
        worst = self._worst_case(messages, params)
        await budget.admit(stage, worst)
        try:
            return await self._paid_for(messages, params)
        finally:
            budget.meter.unreserve(stage, worst)

    def _worst_case(self, messages: Sequence[Message], params: SampleParams) -> Spend:
        """One call at most: its estimated prompt per request and ``max_tokens`` per sample, priced."""
        requests = 1 if self.backend.native_n else params.n
        usage = Usage(
            input_tokens=messages_tokens(messages) * requests, output_tokens=params.max_tokens * params.n
        )
        return Spend(
            calls=1,
            requests=requests,
            completions=params.n,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=self.price.cost(usage),
        )

    async def _paid_for(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        """:meth:`_sample`; when it fails, the requests it had answered were still paid, so they are
        recorded (requests, completions, tokens, cost; not a call)."""
        paid: list[dict[int, Completion]] = []
        try:
            return await self._sample(messages, params, paid)
        except BaseException:
            if paid:
                self.meter.record(
                    self.stage, [c for part in paid for c in part.values()], requests=len(paid), call=False
                )
            raise

    async def _sample(
        self, messages: Sequence[Message], params: SampleParams, paid: list[dict[int, Completion]]
    ) -> list[Completion]:
        n, seed = params.n, params.seed
        if self.cache is None:
            # No cache, no key: indices only address cache rows (and the derived seed of a top-up,
            # which needs stored rows), so the call asks for samples 0..n-1.
            got, requests = await self._fetch(messages, params, list(range(n)), None, paid)
            out = [got[i] for i in range(n)]
        else:
            # A backend's `cache_options` (optional): its settings that change the answers, e.g. extra_body.
            key = cache_key(self.name, messages, params, getattr(self.backend, "cache_options", None))
            start = 0 if seed is not None else self._shared.draw(key, n)
            indices = list(range(start, start + n))
            got, requests = await self._cached(self.cache, key, messages, params, indices, paid)
            out = [got[i] for i in indices]
        self.meter.record(self.stage, out, requests=requests)
        return out

    async def _cached(
        self,
        cache: ResponseCache,
        key: str,
        messages: Sequence[Message],
        params: SampleParams,
        indices: list[int],
        paid: list[dict[int, Completion]],
    ) -> tuple[dict[int, Completion], int]:
        """The samples ``indices`` of ``key``: from the cache, from a request in flight, or fetched.

        A sample that another call is fetching right now is awaited, not requested again, and comes
        back with ``cached=True`` (the leader paid for it). When that request fails: a cancelled leader
        hands the sample back, and one of its followers leads a new request; a transient or malformed-
        answer failure (after the leader's own retries) sends the followers round once more, with a full
        retry policy of their own, and a second such failure is theirs; any other error (400, 401...)
        would repeat, so the followers raise it as it is.
        """
        found = cache.get(key, indices)
        missing = [i for i in indices if i not in found]
        requests, rounds_left = 0, 1
        while missing:
            flights = cache.in_flight()
            joined, own = flights.claim(key, missing)
            try:
                if own:
                    fresh, sent = await self._fetch(
                        messages, params, list(own), _Lead(cache, key, flights, own), paid
                    )
                    found.update(fresh)
                    requests += sent
            finally:
                flights.release(key, own, FlightAbandoned(f"{self.name}: the request was cancelled"))
            missing, failed = [], False
            for i, fut in joined.items():
                try:
                    found[i] = (await asyncio.shield(fut)).model_copy(update={"cached": True})
                    self._shared.merged += 1
                except FlightAbandoned:
                    missing.append(i)
                except (ModelTransientError, ModelResponseError):
                    if rounds_left == 0:
                        raise
                    missing.append(i)
                    failed = True
            if failed:
                rounds_left -= 1
            if missing:  # a leader may have landed these between its failure and now
                found.update(cache.get(key, missing))
                missing = [i for i in missing if i not in found]
        return found, requests

    async def _fetch(
        self,
        messages: Sequence[Message],
        params: SampleParams,
        missing: list[int],
        lead: _Lead | None,
        paid: list[dict[int, Completion]],
    ) -> tuple[dict[int, Completion], int]:
        """The samples ``missing`` from the provider; ``lead``: the cache rows and flights they fill
        (None without a cache); each answered request's samples are appended to ``paid``."""
        if self.backend.native_n:
            return await self._request(messages, params, missing, lead, paid), 1
        # Every request runs to its end before an error is raised, so none is left running unowned.
        parts = await asyncio.gather(
            *(self._request(messages, params, [i], lead, paid) for i in missing),
            return_exceptions=True,
        )
        merged: dict[int, Completion] = {}
        for part in parts:
            if isinstance(part, BaseException):
                raise part
            merged.update(part)
        return merged, len(missing)

    async def _request(
        self,
        messages: Sequence[Message],
        params: SampleParams,
        indices: list[int],
        lead: _Lead | None,
        paid: list[dict[int, Completion]],
    ) -> dict[int, Completion]:
        """One provider request for the samples ``indices``, retried; each answer is cached at once."""
        try:
            seed = params.seed
            if seed is not None and indices[0] > 0:
                seed = (seed * 1_000_003 + indices[0]) % (2**31)
            sub = params
            if params.n != len(indices) or seed != params.seed:
                sub = params.model_copy(update={"n": len(indices), "seed": seed})
            raw = await self._with_retries(messages, sub)
            if len(raw) != len(indices):
                raise ModelResponseError(f"{self.name}: asked for {len(indices)} samples, got {len(raw)}")
            priced = {
                i: c.model_copy(update={"cost_usd": self.price.cost(c.usage), "model": c.model or self.name})
                for i, c in zip(indices, raw, strict=True)
            }
            paid.append(priced)
            if lead is not None:
                lead.cache.put(lead.key, self.name, priced)
        except BaseException as exc:
            if lead is not None:
                gone = exc if isinstance(exc, Exception) else FlightAbandoned(f"{self.name}: {exc!r}")
                lead.flights.release(lead.key, {i: lead.own[i] for i in indices}, gone)
            raise
        if lead is not None:
            lead.flights.land(lead.key, lead.own, priced)
        return priced

    async def _with_retries(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        policy = self.retry
        response_errors = 0

        def should_retry(state: RetryCallState) -> bool:
            nonlocal response_errors
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, TransientFailure):
                return True
            if isinstance(exc, ModelResponseError):
                response_errors += 1
                return response_errors <= policy.response_error_retries
            return False

        jitter = wait_random_exponential(multiplier=policy.backoff_base, max=policy.backoff_max)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            delay = float(jitter(state))
            after = getattr(exc, "retry_after", None)
            if isinstance(after, float | int):
                delay = max(delay, min(float(after), policy.max_retry_after))
            return delay

        def said(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            wait_s = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "%s: attempt %d of %d failed (%s: %s); again in %.1f s",
                self.name, state.attempt_number, policy.attempts, type(exc).__name__, exc, wait_s,
            )  # fmt: skip

        sem = self._shared.semaphore(self.max_concurrency)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(policy.attempts),
                wait=wait,
                retry=should_retry,
                sleep=self.sleep,
                before_sleep=said,
                reraise=True,
            ):
                with attempt:
                    async with sem:
                        self._shared.attempts += 1
                        return await self.backend.generate(messages, params)
        except TransientFailure as exc:
            raise ModelTransientError(
                f"{exc} — gave up after {policy.attempts} attempts; retry later or raise RetryPolicy.attempts"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def aclose(self) -> None:
        """Release the backend's connections or engine, and the cache file."""
        await self.backend.aclose()
        if self.cache is not None:
            self.cache.close()


@dataclass(frozen=True)
class _Lead:
    """What a call that leads a request fills: the rows of ``key`` in ``cache`` (each answer is stored
    as it arrives) and its futures ``own`` in ``flights``, which its followers await."""

    cache: ResponseCache
    key: str
    flights: InFlight
    own: dict[int, asyncio.Future[Completion]]


class _Shared:
    """State shared by a model and its stage views: draw offsets, counts and the per-loop semaphore."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}
        self.attempts = 0
        self.merged = 0
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def draw(self, key: str, n: int) -> int:
        start = self.offsets.get(key, 0)
        self.offsets[key] = start + n
        return start

    def semaphore(self, limit: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(limit)
        return sem
