"""What every strategy shares: the ``SearchStrategy`` seam, common settings and one search's state.

A strategy is a class with a pydantic config and one coroutine, ``search(task, model, executor,
budget)``, returning a :class:`SearchResult` (the tree and the chosen node). It receives a
:class:`PublicFunctionTask`: hidden tests are not reachable from here.

Strategies are *anytime*: no decision depends on the total budget, only on what was seen so far, so
the first ``b`` units of spend of a run at budget ``B > b`` are exactly a run at budget ``b``. The
comparison uses this to draw budget curves from one run per unit.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Sequence
from typing import ClassVar, Generic, Literal, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import BudgetExceeded
from harness.models._types import Completion, Message, Model
from harness.search._budget import BudgetMeter, BudgetSummary, Purpose
from harness.search._executor import Executor, VisibleTest
from harness.search._node import Node, Origin, Tree
from harness.search._program import extract_program
from harness.search._prompts import REFINE, SEED, TESTS, style_suffix
from harness.search._visible import docstring_tests, parse_generated_tests
from harness.tasks._function import PublicFunctionTask

StopReason = Literal["solved_visible", "budget", "done"]


class CommonConfig(BaseModel):
    """Settings every strategy has. Defaults follow SFS's comparison runs unless a field says why not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = 0.2
    """Sampling temperature of every call (SFS's search comparison used 0.2)."""
    max_tokens: int = 1024
    tests: Literal["docstring", "generated", "auto"] = "auto"
    """Where visible tests come from: the prompt's examples, the model (costs budget), or the
    examples with a fallback to the model when the prompt has none."""
    n_generated_tests: int = 6
    """How many tests to keep when the model writes them (SFS: 6)."""
    stop_on_pass: bool = True
    """Stop as soon as a program passes every visible test (all published strategies do)."""
    logprobs: bool = False
    """Ask the backend for token log-probabilities (best-first uses them to break ties)."""
    seed_prompt: Literal["chat", "raw"] = "chat"
    """How programs are asked for from the prompt: ``chat`` (an instruction and the prompt in a code
    block, with the seed's style) or ``raw`` (the bare prompt as the user message, for completion
    models and for replaying recorded pools such as CodeT's, which are matched by exact prompt)."""
    call_seeds: Literal["per_call", "per_search"] = "per_call"
    """``per_call``: each request gets its own sampling seed (search seed and call position), so
    identical prompts still differ; ``per_search``: every request uses the search seed (the replay
    backend then draws its pool without replacement)."""


class SearchResult(BaseModel):
    """A finished search: the tree, the chosen node, the visible tests and what was spent."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    strategy: str
    tree: Tree
    chosen: Node | None
    tests: list[VisibleTest]
    budget: BudgetSummary
    stopped: StopReason
    seed: int = 0
    calls: list[dict[str, object]] = Field(default_factory=list)


@runtime_checkable
class SearchStrategy(Protocol):
    """A search over programs for one function task, within a budget."""

    @property
    def name(self) -> str:
        """The strategy's registered name (``best_of_n``, ``line``, ...)."""
        ...

    async def search(
        self,
        task: PublicFunctionTask,
        model: Model,
        executor: Executor,
        budget: BudgetMeter,
        *,
        seed: int = 0,
        tests: Sequence[VisibleTest] | None = None,
    ) -> SearchResult:
        """Search for a program; ``tests`` are the visible tests when given (else the strategy's
        ``tests`` setting decides: the prompt's examples and/or model-written tests)."""
        ...


class Search:
    """The state of one search: the task, the meter, the tree and the visible tests.

    Strategies call :meth:`call` for every model request (it goes through the meter) and
    :meth:`add_program` for every completion that is a program (it is run on the visible tests).
    """

    def __init__(
        self,
        strategy: str,
        task: PublicFunctionTask,
        model: Model,
        executor: Executor,
        meter: BudgetMeter,
        cfg: CommonConfig,
        seed: int,
        tests: Sequence[VisibleTest] | None = None,
    ) -> None:
        self.strategy = strategy
        self.task = task
        self.model = model
        self.executor = executor
        self.meter = meter
        self.cfg = cfg
        self.seed = seed
        self.tree = Tree()
        self.given_tests = None if tests is None else list(tests)
        self.tests: list[VisibleTest] = []
        self._n_calls = 0

    async def call(
        self, messages: Sequence[Message], purpose: Purpose, *, n: int = 1, temperature: float | None = None
    ) -> list[Completion]:
        """One model request through the meter. The sampling seed depends on the search seed and
        the call's position, so paired runs (same seed) ask the same questions with the same seeds."""
        self._n_calls += 1
        return await self.meter.sample(
            self.model,
            messages,
            purpose=purpose,
            n=n,
            temperature=self.cfg.temperature if temperature is None else temperature,
            max_tokens=self.cfg.max_tokens,
            seed=self.seed if self.cfg.call_seeds == "per_search" else self.seed * 100_003 + self._n_calls,
            logprobs=self.cfg.logprobs,
        )

    async def prepare_tests(self) -> None:
        """Fill :attr:`tests`: the given tests, else the prompt's examples and/or the model (a counted
        ``tests`` call)."""
        if self.given_tests is not None:
            self.tests = self.given_tests
            return
        if self.cfg.tests in ("docstring", "auto"):
            self.tests = docstring_tests(self.task.prompt, self.task.entry_point)
        if self.cfg.tests == "generated" or (self.cfg.tests == "auto" and not self.tests):
            messages = TESTS.render(
                entry_point=self.task.entry_point, prompt=self.task.prompt, n=self.cfg.n_generated_tests
            )
            out = await self.call(messages, "tests")
            self.tests = parse_generated_tests(out[0].text, self.task.entry_point, self.cfg.n_generated_tests)

    async def add_program(self, completion: Completion, origin: Origin, parent: Node | None) -> Node:
        """Make a node of a program completion, run it on the visible tests and score it."""
        program = extract_program(completion.text, self.task)
        lp = completion.logprobs
        node = self.tree.new_node(
            program,
            origin,
            parent,
            cost=self.meter.spent,
            logprob=None if lp is None else float(math.fsum(lp)),
            n_tokens=len(lp) if lp is not None else completion.usage.output_tokens,
        )
        report = await self.executor.run(program, self.tests)
        node.results = report.cells
        node.feedback = report.feedback()
        node.score = report.score
        node.value = node.score
        return node

    def solved(self, node: Node) -> bool:
        return self.cfg.stop_on_pass and node.passed_all

    # Prompts shared by several strategies.

    def seed_messages(self, style: str = "") -> list[Message]:
        if self.cfg.seed_prompt == "raw":
            return [Message(role="user", content=self.task.prompt)]
        return SEED.render(style=style_suffix(style), prompt=self.task.prompt)

    def refine_messages(self, node: Node) -> list[Message]:
        return REFINE.render(prompt=self.task.prompt, program=node.program, feedback=node.feedback)

    def result(self, stopped: StopReason) -> SearchResult:
        return SearchResult(
            strategy=self.strategy,
            tree=self.tree,
            chosen=self.tree.best(),
            tests=list(self.tests),
            budget=BudgetSummary(
                limits=self.meter.limits,
                spent=self.meter.spent,
                calls_by_purpose=self.meter.calls_by_purpose(),
            ),
            stopped=stopped,
            seed=self.seed,
        )


async def run_guarded(search: Search, body: Awaitable[StopReason]) -> SearchResult:
    """Run a strategy body coroutine; a refused call (budget reached) ends the search normally."""
    try:
        stopped: StopReason = await body
    except BudgetExceeded:
        stopped = "budget"
    return search.result(stopped)


ConfigT = TypeVar("ConfigT", bound=CommonConfig)


class Strategy(Generic[ConfigT]):
    """The half every strategy shares: its config, and :meth:`search`, which sets up one
    :class:`Search` and runs the strategy's :meth:`_body` under :func:`run_guarded`.

    A subclass sets ``name`` and ``config_type`` and writes ``_body``.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[CommonConfig]]

    def __init__(self, config: ConfigT | None = None) -> None:
        # ``config_type`` is the class behind ``ConfigT`` (a ClassVar cannot name a type variable)
        self.config: ConfigT = config if config is not None else cast(ConfigT, self.config_type())

    async def search(
        self,
        task: PublicFunctionTask,
        model: Model,
        executor: Executor,
        budget: BudgetMeter,
        *,
        seed: int = 0,
        tests: Sequence[VisibleTest] | None = None,
    ) -> SearchResult:
        s = Search(self.name, task, model, executor, budget, self.config, seed, tests)
        return await run_guarded(s, self._body(s))

    async def _body(self, s: Search) -> StopReason:
        raise NotImplementedError
