"""Ensembles: other systems' predictions as extra candidates, and our own predictions out.

Predictions files are SWE-bench's ``predictions.jsonl`` (``instance_id, model_name_or_path,
model_patch``; JSON lists and ``{id: prediction}`` objects are read too, by
``harness.evaluation.load_predictions``). Each external patch becomes a
:class:`harness.selection.Candidate` whose provenance says where it came from
(``source="predictions:<file>"``, ``model=<model_name_or_path>``); ours carry ``source="ours"``.
Empty and missing patches are dropped on the way in (they cannot win). Selection then runs over all
candidates alike (dedup, voting, B4, the selection agent), and :func:`write_predictions` writes the
chosen patch per instance.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from harness.evaluation._batch import Prediction, load_predictions
from harness.selection._types import Candidate, Provenance
from harness.store import atomic_write_text

OURS = "ours"


def load_external(paths: Sequence[str | Path]) -> dict[str, list[Candidate]]:
    """Candidates per instance id from predictions files, in file order; empty patches dropped.

    A candidate's id is ``ext:<file stem>:<row in the file>``.
    """
    out: dict[str, list[Candidate]] = {}
    for path in paths:
        p = Path(path)
        for row, pred in enumerate(load_predictions(p)):
            if not (pred.model_patch or "").strip():
                continue
            cands = out.setdefault(pred.instance_id, [])
            cands.append(
                Candidate(
                    id=f"ext:{p.stem}:{row}",
                    task_id=pred.instance_id,
                    code=pred.model_patch or "",
                    provenance=Provenance(source=f"predictions:{p}", model=pred.model_name_or_path),
                )
            )
    return out


def our_candidates(instance_id: str, patches: Sequence[str], *, model: str = "") -> list[Candidate]:
    """Our trajectories' patches as candidates (``source="ours"``, ``sample_index`` = trajectory)."""
    return [
        Candidate(
            id=f"ours:{i}",
            task_id=instance_id,
            code=patch,
            provenance=Provenance(source=OURS, model=model, sample_index=i),
        )
        for i, patch in enumerate(patches)
    ]


def merge_candidates(ours: Sequence[Candidate], external: Sequence[Candidate]) -> list[Candidate]:
    """Ours first, then the external ones; ids stay unique. Dedup is left to ``voting.dedup``."""
    merged = list(ours)
    seen = {c.id for c in merged}
    for cand in external:
        cid, k = cand.id, 1
        while cid in seen:
            cid, k = f"{cand.id}#{k}", k + 1
        seen.add(cid)
        merged.append(cand if cid == cand.id else cand.model_copy(update={"id": cid}))
    return merged


def write_predictions(
    path: str | Path, patches: Mapping[str, str | None] | Iterable[Prediction], *, model_name: str = "harness"
) -> Path:
    """Write a SWE-bench predictions JSONL atomically (one line per instance, sorted by id)."""
    if isinstance(patches, Mapping):
        rows = [
            Prediction(instance_id=k, model_name_or_path=model_name, model_patch=v)
            for k, v in patches.items()
        ]
    else:
        rows = list(patches)
    rows.sort(key=lambda r: r.instance_id)
    text = "".join(json.dumps(r.model_dump(), ensure_ascii=False) + "\n" for r in rows)
    p = Path(path)
    atomic_write_text(p, text)
    return p
