"""A deterministic model for tests and demos: ``scripted:FILE`` or a Python policy.

A rules file (JSON, or YAML when PyYAML is installed) looks at the latest message::

    {"default": "I cannot help with that.",
     "rules": [
       {"contains": "write tests", "reply": "assert f(1) == 2"},
       {"regex": "attempt \\\\d+", "replies": ["first try", "second try"], "times": 2},
       {"role": "user", "reply": "anything else a user says"}]}

The first rule that matches fires: ``contains`` is a substring, ``regex`` a ``re.search`` pattern, and
``role`` the latest message's role (a rule with none of them matches anything). A rule's k-th firing
replies ``replies[k]`` (the last one repeats) and ``times`` caps its firings, after which it is
skipped. Each sample of an ``n > 1`` call is one firing. With no rule left, ``default`` answers; with
no default the call raises :class:`ModelRequestError`.

A policy is any callable ``policy(messages, index) -> str | Completion``: it sees the whole chat and
the index of the sample it is producing (0, 1, 2, ... over the backend's life), so it can react to
what it is shown. Replies honour ``stop`` (cut at the first stop string) and ``max_tokens`` (cut at
about four characters a token, ``finish_reason="length"``); usage is estimated from text length, and
``logprobs=True`` yields deterministic per-word log-probabilities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness._extras import require
from harness.errors import ConfigError, ModelRequestError
from harness.models._backend import estimate_tokens, messages_tokens, pseudo_logprobs, split_prompt
from harness.models._types import Completion, Message, Role, SampleParams, Usage

Policy = Callable[[list[Message], int], "str | Completion"]


class Rule(BaseModel):
    """One reply rule; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    contains: str | None = None
    regex: str | None = None
    role: Role | None = None
    reply: str | None = None
    replies: list[str] | None = None
    times: int | None = Field(default=None, ge=1)
    finish_reason: str = "stop"

    @model_validator(mode="after")
    def _one_reply(self) -> Rule:
        if (self.reply is None) == (self.replies is None or not self.replies):
            raise ValueError("give exactly one of reply (a string) or replies (a non-empty list)")
        if self.regex is not None:
            re.compile(self.regex)
        return self

    def matches(self, message: Message) -> bool:
        if self.role is not None and message.role != self.role:
            return False
        if self.contains is not None and self.contains not in message.content:
            return False
        return self.regex is None or re.search(self.regex, message.content) is not None

    def text(self, firing: int) -> str:
        if self.replies:
            return self.replies[min(firing, len(self.replies) - 1)]
        return self.reply or ""


class Script(BaseModel):
    """The contents of a rules file."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list)
    default: str | None = None


class ScriptedConfig(BaseModel):
    """Settings of the ``scripted:`` backend: a rules file, inline rules, or a policy callable."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    type: Literal["scripted"] = "scripted"
    path: Path | None = None
    """A JSON/YAML rules file."""
    script: Script | None = None
    """Inline rules (instead of a file)."""
    policy: Any = None
    """A callable ``policy(messages, index) -> str | Completion`` (instead of rules)."""
    name: str = "scripted"
    max_concurrency: int = Field(default=1024, ge=1)


class ScriptedBackend:
    """Replies from rules or a policy; deterministic for a given sequence of calls."""

    provider = "scripted"
    native_n = True
    cache_by_default = False

    def __init__(self, config: ScriptedConfig) -> None:
        self.config = config
        self.default_concurrency = config.max_concurrency
        sources = [config.path is not None, config.script is not None, config.policy is not None]
        if sum(sources) != 1:
            raise ConfigError("a scripted model needs exactly one of a rules file, inline rules or a policy")
        if config.policy is not None and not callable(config.policy):
            raise ConfigError(f"scripted policy must be callable, got {type(config.policy).__name__}")
        self.script = load_script(config.path) if config.path is not None else config.script
        self.model_id = config.path.name if config.path is not None else config.name
        self.name = f"scripted:{config.path}" if config.path is not None else f"scripted:{config.name}"
        self.index = 0
        """Samples produced so far (the policy's ``index``)."""
        self.seen: list[list[Message]] = []
        """Every request's messages, in order (for tests that check what the model was shown)."""
        self._firings: dict[int, int] = {}

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        chat = list(messages)
        self.seen.append(chat)
        prompt_parts = split_prompt(messages_tokens(chat), params.n)
        out: list[Completion] = []
        for j in range(params.n):
            raw = self._reply(chat)
            self.index += 1
            out.append(_shape(raw, params, Usage(input_tokens=prompt_parts[j]), self.name, self.index))
        return out

    def _reply(self, chat: list[Message]) -> str | Completion:
        if self.config.policy is not None:
            result = self.config.policy(chat, self.index)
            if not isinstance(result, str | Completion):
                raise ConfigError(f"scripted policy returned {type(result).__name__}, not str or Completion")
            return result
        assert self.script is not None
        latest = chat[-1] if chat else Message(role="user", content="")
        for i, rule in enumerate(self.script.rules):
            fired = self._firings.get(i, 0)
            if (rule.times is None or fired < rule.times) and rule.matches(latest):
                self._firings[i] = fired + 1
                return Completion(text=rule.text(fired), finish_reason=rule.finish_reason)
        if self.script.default is not None:
            return self.script.default
        raise ModelRequestError(
            f"{self.name}: no rule matches the latest message ({latest.content[:80]!r}) and there is no default"
        )

    async def aclose(self) -> None:
        return None


def _shape(raw: str | Completion, params: SampleParams, prompt: Usage, name: str, salt: int) -> Completion:
    """Apply stop/max_tokens to a reply and fill usage and logprobs the way a provider would."""
    text, finish = (raw, "stop") if isinstance(raw, str) else (raw.text, raw.finish_reason or "stop")
    for s in params.stop or ():
        cut = text.find(s)
        if cut >= 0:
            text, finish = text[:cut], "stop"
    if estimate_tokens(text) > params.max_tokens:
        text, finish = text[: params.max_tokens * 4], "length"
    if isinstance(raw, Completion) and raw.usage != Usage():
        usage = raw.usage
    else:
        usage = prompt.model_copy(update={"output_tokens": estimate_tokens(text)})
    lps = (
        raw.logprobs
        if isinstance(raw, Completion) and raw.logprobs is not None
        else pseudo_logprobs(text, salt)
    )
    return Completion(
        text=text, finish_reason=finish, usage=usage, logprobs=lps if params.logprobs else None, model=name
    )


def load_script(path: Path) -> Script:
    """Read a JSON or YAML rules file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read scripted rules file {path}: {exc}") from exc
    data: Any
    try:
        if path.suffix in (".yaml", ".yml"):
            yaml = require("yaml", "yaml")
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        else:
            data = json.loads(text)
        return Script.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"{path}: not a scripted rules file: {exc}") from exc
