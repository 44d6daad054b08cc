"""vLLM's offline engine (``vllm:/path/to/model``), fed by a batching queue.

Concurrent ``sample`` calls are queued; a dispatcher waits ``batch_window`` seconds for more, then
sends everything queued to *one* ``LLM.generate`` call (one ``SamplingParams`` per request, with its
``n``, ``seed`` and ``logprobs``), run in a worker thread so the event loop stays free. Prompts are
chats rendered with the tokenizer's chat template. ``enable_prefix_caching`` is on by default, so
``n`` samples and repeated prefixes share their prompt's KV cache; ``num_cached_tokens`` is reported
as ``cache_read_tokens``.

The engine starts on first use (about 40 s for a tiny model on CPU; the first start on a machine also
compiles, a few minutes) or with :meth:`VLLMBackend.start`. vLLM spawns worker processes, so the
script that creates it needs an ``if __name__ == "__main__":`` guard. GPU options
(``tensor_parallel_size``, ``gpu_memory_utilization``, ``dtype``, ``max_model_len``) are passed through
as they are; on the CPU build use ``gpu_memory_utilization`` about 0.2 (it reserves that fraction of a
NUMA node's memory).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness._extras import require
from harness.errors import ConfigError
from harness.models._backend import split_prompt
from harness.models._types import Completion, Message, SampleParams, Usage


class VLLMConfig(BaseModel):
    """Settings of the ``vllm:`` backend; engine options are vLLM's own, passed through."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["vllm"] = "vllm"
    model: str
    """A local model folder (or a hub id where the hub is reachable)."""
    tokenizer: str | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    """GPUs to shard the model over."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """Fraction of accelerator memory vLLM may use; about 0.2 on the CPU build."""
    max_model_len: int | None = None
    dtype: str = "auto"
    load_format: str = "auto"
    """``dummy`` gives random weights (tests; no download)."""
    enable_prefix_caching: bool = True
    seed: int = 0
    """The engine's seed (a request's own ``seed`` goes to its ``SamplingParams``)."""
    trust_remote_code: bool = False
    chat_template: str | None = None
    """A Jinja chat template, when the tokenizer has none."""
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Further ``vllm.LLM(...)`` arguments, as they are."""
    batch_window: float = Field(default=0.005, ge=0)
    """Seconds to wait for more requests before a ``generate`` call."""
    max_batch: int = Field(default=1024, ge=1)
    """Most requests in one ``generate`` call."""
    max_concurrency: int = Field(default=1024, ge=1)


class _Pending:
    def __init__(self, prompt: str, params: Any, n: int, future: asyncio.Future[Any]) -> None:
        self.prompt, self.params, self.n, self.future = prompt, params, n, future


class VLLMBackend:
    """An in-process vLLM engine behind a batching queue."""

    provider = "vllm"
    native_n = True
    cache_by_default = True

    def __init__(self, config: VLLMConfig) -> None:
        self.config = config
        self.model_id = config.model
        self.name = f"vllm:{config.model}"
        # What changes the answers for the same model path: random weights, another prompt rendering.
        self.cache_options: dict[str, Any] = {
            k: v
            for k, v in (
                ("load_format", config.load_format if config.load_format != "auto" else None),
                ("tokenizer", config.tokenizer),
                ("chat_template", config.chat_template),
            )
            if v is not None
        }
        self.default_concurrency = config.max_concurrency
        self.llm: Any = None
        self.generate_calls = 0
        """``LLM.generate`` calls made (a batch of queued requests is one call)."""
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-vllm")
        self._start_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Build the engine now (blocking). Idempotent."""
        with self._start_lock:
            if self.llm is not None:
                return
            vllm = require("vllm", "vllm")
            c = self.config
            self.llm = vllm.LLM(
                model=c.model,
                tokenizer=c.tokenizer,
                tensor_parallel_size=c.tensor_parallel_size,
                gpu_memory_utilization=c.gpu_memory_utilization,
                max_model_len=c.max_model_len,
                dtype=c.dtype,
                load_format=c.load_format,
                enable_prefix_caching=c.enable_prefix_caching,
                seed=c.seed,
                trust_remote_code=c.trust_remote_code,
                **c.engine_kwargs,
            )

    def render(self, messages: Sequence[Message]) -> str:
        """The chat as one prompt string, through the tokenizer's (or the configured) chat template."""
        tok = self.llm.get_tokenizer()
        chat = [{"role": m.role, "content": m.content} for m in messages]
        template = self.config.chat_template or getattr(tok, "chat_template", None)
        if not template:
            raise ConfigError(f"{self.name}: the tokenizer has no chat template; pass chat_template=...")
        return str(
            tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True, chat_template=template)
        )

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        loop = asyncio.get_running_loop()
        if self.llm is None:
            await loop.run_in_executor(self._pool, self.start)
        vllm = require("vllm", "vllm")
        sp = vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) if params.stop else None,
            seed=params.seed,
            logprobs=0 if params.logprobs else None,
        )
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(self.render(messages), sp, params.n, future))
        self._ensure_dispatcher().set()
        output = await future
        return self._completions(output, params)

    def _ensure_dispatcher(self) -> asyncio.Event:
        if self._dispatcher is None or self._dispatcher.done() or self._wakeup is None:
            self._wakeup = asyncio.Event()
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch(self._wakeup))
        return self._wakeup

    async def _dispatch(self, wakeup: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await wakeup.wait()
            wakeup.clear()
            if self.config.batch_window:
                await asyncio.sleep(self.config.batch_window)
            while self._queue:
                batch, self._queue = (
                    self._queue[: self.config.max_batch],
                    self._queue[self.config.max_batch :],
                )
                try:
                    outputs = await loop.run_in_executor(self._pool, self._generate_sync, batch)
                except Exception as exc:  # the engine failed: every waiting call gets the error
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(exc)
                    continue
                for p, out in zip(batch, outputs, strict=True):
                    if not p.future.done():
                        p.future.set_result(out)

    def _generate_sync(self, batch: list[_Pending]) -> list[Any]:
        self.generate_calls += 1
        return list(self.llm.generate([p.prompt for p in batch], [p.params for p in batch], use_tqdm=False))

    def _completions(self, output: Any, params: SampleParams) -> list[Completion]:
        prompt_tokens = len(output.prompt_token_ids or [])
        cached = int(getattr(output, "num_cached_tokens", 0) or 0)
        ins, reads = split_prompt(max(prompt_tokens - cached, 0), params.n), split_prompt(cached, params.n)
        out: list[Completion] = []
        for i, c in enumerate(sorted(output.outputs, key=lambda c: c.index)):
            lps: list[float] | None = None
            if params.logprobs and c.logprobs is not None:
                lps = [float(c.logprobs[p][tid].logprob) for p, tid in enumerate(c.token_ids)]
            out.append(
                Completion(
                    text=c.text,
                    finish_reason=c.finish_reason,
                    usage=Usage(
                        input_tokens=ins[i], output_tokens=len(c.token_ids), cache_read_tokens=reads[i]
                    ),
                    logprobs=lps,
                    model=self.name,
                )
            )
        return out

    async def aclose(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            self._dispatcher = None
        llm, self.llm = self.llm, None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) if engine is not None else None
            if callable(shutdown):
                await asyncio.get_running_loop().run_in_executor(self._pool, shutdown)
        self._pool.shutdown(wait=False)
