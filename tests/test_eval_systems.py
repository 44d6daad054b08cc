"""Many systems in one evaluation, without Docker: system names, the report's arithmetic (table, rates,
oracle, random pick, CIs, paired differences) on a constructed ``systems.json``, and agreement with the
published verdicts of the real systems in ../shared/data/swebench/predictions (read from there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.errors import DataError
from harness.evaluation import Cell, System, SystemsEvaluation, load_systems, read_verdicts, system_name
from harness.report import bootstrap_diff, build_systems_report
from harness.report._systems import agreement

PREDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "swebench" / "predictions"
needs_preds = pytest.mark.skipif(not PREDS.is_dir(), reason="../shared/data/swebench/predictions is not here")


def test_system_names_come_from_file_names(tmp_path: Path) -> None:
    assert system_name(Path("x/20240604_CodeR.lite.all_preds.jsonl")) == "20240604_CodeR.lite"
    assert system_name(Path("x/moatless.jsonl")) == "moatless"
    (tmp_path / "CodeR").mkdir()
    assert system_name(tmp_path / "CodeR" / "all_preds.jsonl") == "CodeR"
    row = json.dumps({"instance_id": "t-1", "model_name_or_path": "gpt-4", "model_patch": ""})
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "m.all_preds.jsonl").write_text(row + "\n")
    with pytest.raises(DataError, match="two predictions files make the system 'm'"):
        load_systems([tmp_path / "one", tmp_path / "two"])
    with pytest.raises(DataError, match=r"holds no predictions file"):
        load_systems([tmp_path / "CodeR"])
    # An ensemble's folder: predictions.jsonl is the system (named by the folder), choices.jsonl is not.
    ens = tmp_path / "ens-votes"
    ens.mkdir()
    (ens / "predictions.jsonl").write_text(row + "\n")
    (ens / "choices.jsonl").write_text(json.dumps({"instance_id": "t-1", "chosen": "a"}) + "\n")
    assert [s.name for s, _ in load_systems([ens])] == ["ens-votes"]


@needs_preds
def test_the_real_folder_gives_four_systems_with_their_published_verdicts() -> None:
    systems = {s.name: s for s, _ in load_systems([PREDS])}
    assert sorted(systems) == [
        "20240604_CodeR.lite",
        "autocoderover_gpt4_run1.lite",
        "moatless_gpt4o_20240609.lite",
        "sweagent_gpt4_acr_rerun1.lite",
    ]
    # Paths are recorded absolute and resolved (../shared may be a symbolic link beside the checkout).
    coder, moatless = (
        systems["20240604_CodeR.lite"].verdicts,
        systems["moatless_gpt4o_20240609.lite"].verdicts,
    )
    assert coder is not None and moatless is not None
    assert Path(coder) == (PREDS / "20240604_CodeR.lite.results.json").resolve()
    assert Path(moatless) == (PREDS / "moatless_gpt4o_20240609.lite.resolved.json").resolve()
    # model_name_or_path names the model, not the system: it is kept, not used as the name.
    assert systems["autocoderover_gpt4_run1.lite"].model_name_or_path == ["gpt-4-0125-preview"]


def _ev(cells: dict[str, dict[str, Cell]]) -> SystemsEvaluation:
    ids = sorted(next(iter(cells.values())))
    return SystemsEvaluation(
        instances=ids,
        systems=[System(name=s, predictions=f"/p/{s}.jsonl") for s in cells],
        cells=cells,
        pairs=sum(c.outcome != "missing" for row in cells.values() for c in row.values()),
    )


RES, UNRES = Cell(outcome="resolved", resolved=True, applied=True), Cell(outcome="unresolved", applied=True)


def test_table_rates_oracle_random_pick_and_pairs() -> None:
    ev = _ev(
        {
            "A": {
                "i1": RES,
                "i2": Cell(outcome="patch_failed"),
                "i3": Cell(outcome="empty_patch"),
                "i4": Cell(outcome="unresolved", applied=True, timed_out=True),
            },
            "B": {"i1": RES, "i2": Cell(), "i3": Cell(outcome="error"), "i4": RES},
            "C": {
                "i1": UNRES,
                "i2": RES,
                "i3": Cell(outcome="unsupported"),
                "i4": Cell(outcome="empty_patch"),
            },
        }
    )
    rep = build_systems_report(ev, n_boot=2000, seed=1)
    assert rep.table == {
        "i1": {"A": "resolved", "B": "resolved", "C": "unresolved"},
        "i2": {"A": "not applied", "B": "missing", "C": "resolved"},
        "i3": {"A": "empty", "B": "error", "C": "unsupported"},
        "i4": {"A": "timeout", "B": "resolved", "C": "empty"},
    }
    rates = {s.name: s for s in rep.systems}
    assert (rates["A"].rate, rates["B"].rate, rates["C"].rate) == (0.25, 0.5, 0.25)
    assert rates["B"].resolved == 2 and rates["B"].n == 4
    assert rates["A"].counts == {"resolved": 1, "not applied": 1, "empty": 1, "timeout": 1}
    assert rep.oracle.rate == 0.75
    # Random pick among non-empty patches: i1 2 of 3, i2 1 of 2 (B has none), i3 0 of 2, i4 1 of 2.
    assert rep.random_pick.rate == pytest.approx((2 / 3 + 1 / 2 + 0 + 1 / 2) / 4)
    # The CIs are harness.report's bootstrap over instances, with the same resamples and seed.
    lo, hi, _ = bootstrap_diff(np.array([1.0, 0.0, 0.0, 1.0]), 2000, 1)
    assert (rates["B"].ci_low, rates["B"].ci_high) == (lo, hi)
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    ab = next(p for p in rep.pairs if (p.a, p.b) == ("A", "B"))
    assert (ab.diff, ab.b_only, ab.a_only) == (0.25, 1, 0)
    assert ab.ci_low <= 0.25 <= ab.ci_high
    assert len(rep.pairs) == 3


def test_report_and_compare_read_a_systems_folder(tmp_path: Path) -> None:
    from harness.cli import app

    ev = _ev({"A": {"i1": RES, "i2": UNRES}, "B": {"i1": UNRES, "i2": UNRES}})
    (tmp_path / "systems.json").write_text(ev.model_dump_json())
    res = CliRunner().invoke(app, ["report", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["oracle"]["rate"] == 0.5 and data["random_pick"]["rate"] == 0.25
    assert (tmp_path / "systems_report.md").read_text().count("| i1 | resolved | unresolved |") == 1
    res = CliRunner().invoke(app, ["compare", str(tmp_path), "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    assert "paired differences" in res.output and "random pick" in res.output


@needs_preds
def test_agreement_with_both_published_formats() -> None:
    coder = read_verdicts(PREDS / "20240604_CodeR.lite.results.json")
    moatless = read_verdicts(PREDS / "moatless_gpt4o_20240609.lite.resolved.json")
    sweagent = read_verdicts(PREDS / "sweagent_gpt4_acr_rerun1.lite.resolved.json")
    assert (coder.kind, moatless.kind) == ("results", "resolved_list")
    ids = ["pytest-dev__pytest-5227", "pytest-dev__pytest-7168", "pytest-dev__pytest-11148", "psf__requests-1963",
           "pytest-dev__pytest-6116", "pytest-dev__pytest-7373", "django__django-11283", "local__none-1"]  # fmt: skip
    row = {i: Cell() for i in ids}
    ev = _ev(
        {
            "coder": row
            | {
                "pytest-dev__pytest-5227": RES,  # published resolved
                "pytest-dev__pytest-7168": RES,  # published applied, not resolved
                "pytest-dev__pytest-11148": UNRES,  # published no_apply: same verdict, applied differs
                "psf__requests-1963": Cell(outcome="patch_failed"),  # published no_apply too
                "pytest-dev__pytest-6116": Cell(outcome="error"),
                "local__none-1": UNRES,  # not in the published run
            },
            "moatless": row | {"pytest-dev__pytest-5227": RES, "pytest-dev__pytest-7373": UNRES},
            "sweagent": row | {"django__django-11283": UNRES, "pytest-dev__pytest-7373": RES},
        }
    )
    a = agreement("coder", ev, coder, "coder.json")
    assert [(d.instance_id, d.what, d.ours, d.published) for d in a.differences] == [
        ("pytest-dev__pytest-11148", "applied", "unresolved", "patch_failed"),
        ("pytest-dev__pytest-7168", "verdict", "resolved", "unresolved"),
    ]
    assert (a.compared, a.agree) == (4, 3)
    assert a.not_published == ["local__none-1"] and a.not_evaluated_here == ["pytest-dev__pytest-6116"]
    m = agreement("moatless", ev, moatless, "m.json")
    assert [(d.instance_id, d.ours, d.published) for d in m.differences] == [
        ("pytest-dev__pytest-7373", "unresolved", "resolved")
    ]
    assert (m.compared, m.agree) == (2, 1)
    s = agreement("sweagent", ev, sweagent, "s.json")
    # SWE-agent's published run did not evaluate django-11283 (26 of its predictions were not scored).
    assert s.not_published == ["django__django-11283"] and s.differences == [] and s.agree == 1


@needs_preds
def test_report_takes_verdicts_per_system(tmp_path: Path) -> None:
    from harness.cli import app

    ev = _ev({"A": {"pytest-dev__pytest-5227": RES}, "B": {"pytest-dev__pytest-5227": UNRES}})
    (tmp_path / "systems.json").write_text(ev.model_dump_json())
    verdicts = PREDS / "moatless_gpt4o_20240609.lite.resolved.json"
    res = CliRunner().invoke(app, ["report", str(tmp_path), "--json", "--verdicts", f"B={verdicts}"])
    assert res.exit_code == 0, res.output
    (agreement_b,) = json.loads(res.stdout)["agreement"]
    assert agreement_b["system"] == "B" and agreement_b["kind"] == "resolved_list"
    assert [d["instance_id"] for d in agreement_b["differences"]] == ["pytest-dev__pytest-5227"]
    res = CliRunner().invoke(app, ["report", str(tmp_path), "--verdicts", f"C={verdicts}"])
    assert res.exit_code != 0 and "--verdicts names systems not in the evaluation" in res.output
