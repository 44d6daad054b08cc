"""One accounting vocabulary (issue 16, item 1): one Usage, one Spend, one BudgetLimits, money in
``cost_usd``, one rule for "does the next call fit" used by the model layer's Budget (the pipeline's
budget) and search's BudgetMeter; artefacts that spelled money ``dollars`` still load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import harness.models as models
import harness.search as search
from harness.errors import BudgetExceeded
from harness.models import Budget, BudgetLimits, Completion, Message, Spend, Usage, load
from harness.models import _types as model_types
from harness.pipeline import _chat
from harness.search import BudgetMeter, BudgetSummary, CallRecord
from harness.search._attempts import read_attempts

USER = [Message(role="user", content="write a function")]
PRICE = models.Price(input=1000.0, output=2000.0)  # $ per million tokens: 10 in + 5 out = $0.02 a call


def _reply(messages: list[Message], index: int) -> Completion:
    return Completion(text=f"def f(): return {index}", usage=Usage(input_tokens=10, output_tokens=5))


def _model(tmp_path: Path, **options: object) -> models.HarnessModel:
    return load(_reply, cache_path=tmp_path / "cache.sqlite", price=PRICE, **options)


def test_one_set_of_types_under_every_public_name() -> None:
    assert search.BudgetLimits is models.BudgetLimits
    assert search.Spend is models.Spend


def test_the_old_names_are_the_same_class_and_warn() -> None:
    with pytest.warns(DeprecationWarning, match="use harness.models.Spend"):
        assert search.Spent is models.Spend
    with pytest.warns(DeprecationWarning, match="use harness.models.Spend"):
        assert _chat.Spent is models.Spend
    spend, limits = Spend(cost_usd=0.5, paid_usd=0.25), BudgetLimits(cost_usd=1.0)
    with pytest.warns(DeprecationWarning, match="Spend.cost_usd"):
        assert spend.dollars == 0.5
    with pytest.warns(DeprecationWarning, match="Spend.paid_usd"):
        assert spend.paid_dollars == 0.25
    with pytest.warns(DeprecationWarning, match="BudgetLimits.cost_usd"):
        assert limits.dollars == 1.0
    assert model_types.Usage is models.Usage
    fields = set(Spend.model_fields)
    assert "cost_usd" in fields and "dollars" not in fields and "paid_usd" in fields
    assert "cost_usd" in BudgetLimits.model_fields and "dollars" not in BudgetLimits.model_fields


@pytest.mark.parametrize(
    "limits",
    [
        BudgetLimits(calls=3),
        BudgetLimits(tokens=40),  # 15 tokens a call: 0, 15, 30 fit; 45 does not
        BudgetLimits(output_tokens=11),
        BudgetLimits(cost_usd=0.05),  # $0.02 a call
        BudgetLimits.parse("dollars=0.05"),  # the old spelling of a search --budget
    ],
    ids=["calls", "tokens", "output_tokens", "cost_usd", "dollars"],
)
async def test_one_limit_stops_search_and_the_pipeline_budget_at_the_same_call(
    tmp_path: Path, limits: BudgetLimits
) -> None:
    # The pipeline's path: a model wrapper over a Budget of the model layer's meter.
    guarded = _model(tmp_path / "a", budget=Budget(limits))
    pipeline_calls = 0
    with pytest.raises(BudgetExceeded) as piped:
        for _ in range(10):
            await guarded.sample(USER)
            pipeline_calls += 1
    # Search's path: every call through its BudgetMeter, over a model with no budget of its own.
    meter, bare = BudgetMeter(limits), _model(tmp_path / "b")
    with pytest.raises(BudgetExceeded) as searched:
        for _ in range(10):
            await meter.sample(bare, USER, purpose="program")
    assert pipeline_calls == meter.spent.calls == 3
    hit = limits.reached(meter.spent)
    assert hit is not None and hit in str(piped.value) and hit in str(searched.value)
    # What each refusal carries is one flat Spend, money as cost_usd.
    for spent in (piped.value.spent, searched.value.spent):
        assert spent["calls"] == 3 and spent["cost_usd"] == pytest.approx(0.06) and "dollars" not in spent
    assert guarded.meter.total.cost_usd == pytest.approx(meter.spent.cost_usd)


def test_programs_are_a_limit_of_the_model_layer_too() -> None:
    meter = models.CostMeter()
    budget = Budget(BudgetLimits(programs=4), meter=meter, stage="search")
    meter.count("programs", 3, stage="search")
    budget.check(programs=1)
    with pytest.raises(BudgetExceeded, match="programs"):
        budget.check(programs=2)
    search_meter = BudgetMeter(BudgetLimits(programs=4))
    search_meter.record("program", USER, [Completion(text="a")] * 3)
    assert (
        search_meter.exhausted_by(programs=1) is None and search_meter.exhausted_by(programs=2) == "programs"
    )
    # The model layer's old spelling of that limit is still read.
    assert BudgetLimits.model_validate({"counters": {"programs": 4}}) == BudgetLimits(programs=4)


def test_spends_written_before_the_vocabulary_still_load() -> None:
    # search (unit records, attempt journals, node stamps) wrote money as "dollars"
    old_search = {"programs": 1, "calls": 2, "input_tokens": 30, "output_tokens": 9, "dollars": 0.5}
    assert Spend.model_validate(old_search) == Spend(
        programs=1, calls=2, input_tokens=30, output_tokens=9, cost_usd=0.5
    )
    summary = BudgetSummary.model_validate(
        {"limits": {"programs": 10, "dollars": 1.5}, "spent": old_search, "calls_by_purpose": {"program": 2}}
    )
    assert summary.limits.cost_usd == 1.5 and summary.spent.cost_usd == 0.5
    rec = CallRecord.model_validate(
        {"index": 0, "purpose": "program", "messages": [], "outputs": ["x"], "dollars": 0.25}
    )
    assert rec.cost_usd == 0.25
    # the pipeline wrote cost_usd and time_s already
    old_pipeline = {"calls": 2, "input_tokens": 30, "output_tokens": 9, "cost_usd": 0.5, "time_s": 1.5}
    assert Spend.model_validate(old_pipeline).time_s == 1.5
    # what is written now says cost_usd, and reads back equal
    again = json.loads(Spend.model_validate(old_search).model_dump_json())
    assert again["cost_usd"] == 0.5 and "dollars" not in again
    assert Spend.model_validate(again) == Spend.model_validate(old_search)


def test_an_attempt_journal_written_before_the_vocabulary_reads_its_dollars(tmp_path: Path) -> None:
    old = {"programs": 1, "calls": 1, "input_tokens": 10, "output_tokens": 5, "dollars": 0.02}
    path = tmp_path / "unit.json"
    attempt = {
        "number": 1,
        "status": "failed",
        "spent": old,
        "by_purpose": {"program": old},
        "started_at": 1.0,
    }
    unit = {"v": 1, "unit": "u", "task_id": "t", "system": "best_of_n", "seed": 0, "attempts": [attempt]}
    path.write_text(json.dumps(unit))
    journal = read_attempts(path)
    assert journal is not None
    (lost,) = journal.unfinished(unit_done=False)
    assert lost.cost.cost_usd == 0.02 and lost.cost_by_purpose["program"].cost_usd == 0.02


async def test_search_counts_into_the_model_layers_meter_and_budget(tmp_path: Path) -> None:
    """Search's BudgetMeter is the pipeline's meter and budget (CostMeter + Budget), a stage a purpose."""
    meter, model = BudgetMeter(BudgetLimits(programs=3)), _model(tmp_path)
    await meter.sample(model, USER, purpose="program", n=2)
    await meter.sample(model, USER, purpose="reflection")
    assert isinstance(meter.budget, Budget) and isinstance(meter.budget.meter, models.CostMeter)
    ledger = meter.budget.meter
    assert ledger.stage("program").programs == 2 and ledger.stage("program").completions == 2
    assert ledger.stage("reflection").calls == 1 and ledger.stage("reflection").programs == 0
    assert meter.spent.calls == ledger.total.calls == 2 and meter.spent.cost_usd == ledger.total.cost_usd
    # one program fits; a reflection after it would leave no room for another
    assert meter.exhausted_by(programs=1) is None and meter.budget.exhausted_by(programs=1) is None
    assert len(await meter.sample(model, USER, purpose="program", n=5)) == 1  # cut to what fits
    assert ledger.total.programs == 3
    with pytest.raises(BudgetExceeded, match="programs"):
        await meter.sample(model, USER, purpose="reflection")


def test_a_search_run_whose_manifest_says_dollars_resumes(tmp_path: Path) -> None:
    """A comparison started before the vocabulary stored ``budget.dollars`` in its manifest; resuming it
    with the same budget (now ``budget.cost_usd``) is no config change, another amount still is."""
    from harness.errors import StoreError
    from harness.search._compare import CompareConfig
    from harness.store import Run
    from harness.store._run import ConfigDefaults

    def config(**budget: float) -> dict[str, object]:
        cfg = CompareConfig(
            suite="s",
            model="scripted:x",
            strategies=["best_of_n"],
            budget=BudgetLimits.model_validate(budget),
        )
        return cfg.model_dump(mode="json")

    old = config(programs=4, cost_usd=0.5)
    old["budget"] = {("dollars" if k == "cost_usd" else k): v for k, v in old["budget"].items()}  # type: ignore[attr-defined]
    defaults = ConfigDefaults.of(CompareConfig)
    first = Run(tmp_path, "r1", "search", old, defaults=defaults)
    first.close()
    again = Run(tmp_path, "r1", "search", config(programs=4, cost_usd=0.5), defaults=defaults)
    assert again.resumed and again.manifest.config["budget"]["cost_usd"] == 0.5
    assert "dollars" not in json.loads((tmp_path / "r1" / "manifest.json").read_text())["config"]["budget"]
    again.close()
    other = Run(tmp_path, "r2", "search", old, defaults=defaults)
    other.close()
    with pytest.raises(StoreError, match=re.escape("budget.cost_usd: 0.5 in the manifest, 0.25 now")):
        Run(tmp_path, "r2", "search", config(programs=4, cost_usd=0.25), defaults=defaults)
