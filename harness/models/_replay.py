"""Serve recorded samples as if they were sampled: ``replay:FILE``.

``FILE`` is JSONL, one record per prompt, exactly CodeT's pool format::

    {"prompt": "def f(x):\\n ...", "samples": ["    return x\\n", ...], "usage": {...}}

``usage`` is optional: one ``{"input_tokens": .., "output_tokens": ..}`` for every sample, or a list
with one per sample; without it usage is estimated from text length. ``logprobs`` (a list per
sample) is optional too.

A request is matched by the text of its last user message: exactly, else after stripping
surrounding whitespace. With ``match="contains"`` (``load("replay:FILE", match="contains")``), a
message that matches no prompt that way is served the samples of the longest recorded prompt it
*contains* (stripped of surrounding whitespace): a refinement or reflection prompt that embeds the
task prompt gets that task's recorded programs, as if the model ignored the feedback. This lets
feedback-driven search strategies run on a pool recorded from bare prompts.

Samples are drawn *without replacement* per ``(prompt, seed)``: a seeded permutation of the pool
(``seed=None`` keeps the recorded order), and successive calls with the same seed continue down it.
Asking for more samples than remain is a :class:`ModelRequestError` that says how many are left; so
is a prompt the file does not hold.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import ConfigError, DataError, ModelRequestError
from harness.models._backend import estimate_tokens, hash_str, messages_tokens, split_prompt
from harness.models._types import Completion, Message, SampleParams, Usage


class ReplayConfig(BaseModel):
    """Settings of the ``replay:`` backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["replay"] = "replay"
    path: Path
    """The JSONL pool file."""
    max_concurrency: int = Field(default=1024, ge=1)
    match: Literal["exact", "contains"] = "exact"
    """``exact``: the last user message must be a recorded prompt (up to surrounding whitespace);
    ``contains``: else the longest recorded prompt that occurs in it is served (the model "ignores"
    whatever else the message says). Draws stay without replacement per ``(prompt, seed)``."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str
    samples: list[str]
    usage: Usage | list[Usage] | None = None
    logprobs: list[list[float] | None] | None = None


class ReplayBackend:
    """Recorded pools, drawn without replacement per seed."""

    provider = "replay"
    native_n = True
    cache_by_default = False
    default_concurrency = 1024

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self.model_id = config.path.name
        self.name = f"replay:{config.path}"
        self.default_concurrency = config.max_concurrency
        self._records = _load(config.path)
        self._stripped = {p.strip(): r for p, r in self._records.items()}
        # Longest first, so the first recorded prompt found in a message is the longest one in it.
        self._by_length = sorted(
            ((p, r) for p, r in self._stripped.items() if p), key=lambda pr: len(pr[0]), reverse=True
        )
        self._cursors: dict[tuple[str, int | None], tuple[list[int], int]] = {}

    @property
    def prompts(self) -> list[str]:
        return list(self._records)

    def _find(self, messages: Sequence[Message]) -> _Record:
        users = [m for m in messages if m.role == "user"]
        if not users:
            raise ModelRequestError(
                f"{self.name}: the request has no user message to match a recorded prompt"
            )
        text = users[-1].content
        rec = self._records.get(text) or self._stripped.get(text.strip())
        if rec is None and self.config.match == "contains":
            rec = next((r for p, r in self._by_length if p in text), None)
        if rec is None:
            head = text.strip().splitlines()[0][:80] if text.strip() else ""
            how = "exact text" if self.config.match == "exact" else "exact text, else a contained prompt"
            raise ModelRequestError(
                f"{self.name}: no recorded prompt matches the last user message ({head!r}...); "
                f"the file holds {len(self._records)} prompts, matched by {how}"
            )
        return rec

    def draw(self, rec: _Record, seed: int | None, n: int) -> list[int]:
        """The next ``n`` sample indices of ``rec`` for ``seed`` (without replacement)."""
        key = (rec.prompt, seed)
        if key not in self._cursors:
            order = list(range(len(rec.samples)))
            if seed is not None:
                random.Random(seed * 1_000_003 + hash_str(rec.prompt)).shuffle(order)
            self._cursors[key] = (order, 0)
        order, pos = self._cursors[key]
        if pos + n > len(order):
            raise ModelRequestError(
                f"{self.name}: the pool for this prompt has {len(order)} samples and seed {seed} has drawn "
                f"{pos}; {n} more were asked for (use another seed, or a smaller n)"
            )
        self._cursors[key] = (order, pos + n)
        return order[pos : pos + n]

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        rec = self._find(messages)
        picked = self.draw(rec, params.seed, params.n)
        prompt_parts = split_prompt(messages_tokens(messages), params.n)
        out: list[Completion] = []
        for j, idx in enumerate(picked):
            text = rec.samples[idx]
            usage = _recorded_usage(rec, idx) or Usage(
                input_tokens=prompt_parts[j], output_tokens=estimate_tokens(text)
            )
            lps = rec.logprobs[idx] if rec.logprobs is not None and idx < len(rec.logprobs) else None
            out.append(
                Completion(
                    text=text,
                    finish_reason="stop",
                    usage=usage,
                    logprobs=lps if params.logprobs else None,
                    model=self.name,
                )
            )
        return out

    async def aclose(self) -> None:
        return None


def _recorded_usage(rec: _Record, idx: int) -> Usage | None:
    if rec.usage is None:
        return None
    if isinstance(rec.usage, list):
        return rec.usage[idx] if idx < len(rec.usage) else None
    return rec.usage


def _load(path: Path) -> dict[str, _Record]:
    if not path.is_file():
        raise ConfigError(f"replay file {path} does not exist (spec replay:FILE, a JSONL of prompt/samples)")
    records: dict[str, _Record] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw: Any = json.loads(line)
                rec = _Record.model_validate(raw)
            except (ValueError, ValidationError) as exc:
                raise DataError(f"{path}:{lineno}: not a replay record (prompt, samples): {exc}") from exc
            if rec.prompt in records:
                # A prompt recorded twice pools its samples; per-sample extras no longer line up.
                first = records[rec.prompt]
                usage = first.usage if not isinstance(first.usage, list) else None
                records[rec.prompt] = first.model_copy(
                    update={"samples": first.samples + rec.samples, "usage": usage, "logprobs": None}
                )
            else:
                records[rec.prompt] = rec
    if not records:
        raise DataError(f"replay file {path} holds no records")
    return records
