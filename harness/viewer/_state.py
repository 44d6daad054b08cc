"""What the viewer server remembers between requests: loaded runs, reports and trajectory pagers.

Everything is keyed by the files' (size, mtime), so a live run is re-read as it grows and an idle one
costs a few ``stat`` calls and two index queries per request. Paths from requests are resolved only to folders under the results
folder: a request cannot name a file outside it. Nor can a symlink: a run folder, or a file the viewer
would read in one, whose real path is outside the results folder is refused (:class:`Refused`), and
left out of listings.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from harness.errors import DataError
from harness.report import RunData, RunReport, build_report, load_run
from harness.report._load import refresh_index_state
from harness.store import list_trajectories, task_key
from harness.trajectory import TrajectoryPager

_PAGERS_KEPT = 64


class NotFound(DataError):
    """The request names a run, task or trajectory that does not exist."""


class Refused(DataError):
    """The request would read a file whose real path is outside the results folder (a symlink out)."""


SUMMARY_FILES = ("manifest.json", "outcomes.jsonl", "stages.json")


def _stamp(run_dir: Path) -> tuple[tuple[int, int], ...]:
    stamps = []
    for name in SUMMARY_FILES:
        try:
            st = (run_dir / name).stat()
            stamps.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            stamps.append((-1, 0))
    return tuple(stamps)


class ViewerState:
    """Caches shared by the request handlers (which run in a thread pool, hence the lock)."""

    def __init__(self, results_dir: str | Path) -> None:
        self.results_dir = Path(results_dir).resolve()
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[tuple[tuple[int, int], ...], RunData, RunReport]] = {}
        self._plots: dict[tuple[str, str], tuple[tuple[tuple[int, int], ...], bytes]] = {}
        self._pagers: OrderedDict[Path, tuple[threading.Lock, TrajectoryPager]] = OrderedDict()

    def inside(self, path: Path) -> bool:
        """Whether ``path``, every symlink on it followed, is in the results folder."""
        return Path(os.path.realpath(path)).is_relative_to(self.results_dir)

    def check(self, path: Path) -> Path:
        """``path`` if it is :meth:`inside` the results folder; :class:`Refused` (naming it as a path
        under the results folder, never its target) otherwise."""
        if not self.inside(path):
            rel = path.relative_to(self.results_dir).as_posix()
            raise Refused(f"{rel} leads out of the results folder (a symlink); not served")
        return path

    def run_dir(self, run_id: str) -> Path:
        if not run_id or run_id in {".", ".."} or "/" in run_id or "\\" in run_id:
            raise NotFound(f"no run {run_id!r}")
        path = self.results_dir / run_id
        if not path.is_dir():
            raise NotFound(f"no run {run_id!r} under {self.results_dir}")
        return self.check(path)

    def run(self, run_id: str) -> tuple[RunData, RunReport]:
        """The run and its report. Files are re-read only when their stamps changed; the run's status
        and unit counts are re-read from the index on every call (two small queries), so one live
        run writing to the shared index does not make every other run reload."""
        run_dir = self.run_dir(run_id)
        for name in SUMMARY_FILES:
            self.check(run_dir / name)
        stamp = _stamp(run_dir)
        with self._lock:
            hit = self._runs.get(run_id)
        if hit is None or hit[0] != stamp:
            data = load_run(run_dir, self.results_dir)
        else:
            data = refresh_index_state(hit[1])
            if (data.status, data.unit_counts) == (hit[1].status, hit[1].unit_counts):
                return hit[1], hit[2]
        report = build_report(data)
        with self._lock:
            self._runs[run_id] = (stamp, data, report)
        return data, report

    def plot(self, run_id: str, name: str) -> bytes:
        from harness.report._plots import available_plots, plot_png

        data, report = self.run(run_id)
        if name not in available_plots(report):
            raise NotFound(f"run {run_id!r} has no plot {name!r}")
        stamp = (*_stamp(data.dir), (int(report.partial), 0))  # the title says "(partial)"
        with self._lock:
            hit = self._plots.get((run_id, name))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        png = plot_png(report, name)
        with self._lock:
            self._plots[(run_id, name)] = (stamp, png)
        return png

    def run_pngs(self, run_id: str) -> list[str]:
        """PNG plots the run itself wrote (e.g. ``search/budget.png``), as paths relative to its folder.
        The viewer's own report folder is left out; only these names can be fetched by :meth:`run_png`."""
        run_dir = self.run_dir(run_id)
        found = [*run_dir.glob("*.png"), *run_dir.glob("*/*.png")]
        return sorted(
            p.relative_to(run_dir).as_posix() for p in found if p.parent.name != "report" and self.inside(p)
        )

    def run_png(self, run_id: str, rel: str) -> bytes:
        if rel not in self.run_pngs(run_id):
            raise NotFound(f"run {run_id!r} has no plot {rel!r}")
        return (self.run_dir(run_id) / rel).read_bytes()

    def trajectories(self, run_dir: Path, task_id: str | None = None) -> list[tuple[str, str, Path]]:
        """The run's trajectory logs (of one task), without those leading out of the results folder."""
        return [t for t in list_trajectories(run_dir, task_id) if self.inside(t[2])]

    def trajectory_path(self, run_id: str, task_id: str, traj_id: str) -> Path:
        for task, traj, path in list_trajectories(self.run_dir(run_id), task_id):
            if traj == traj_id and task is not None:
                return self.check(path)
        raise NotFound(f"run {run_id!r} has no trajectory {traj_id!r} for task {task_id!r}")

    def check_task_files(self, run_dir: Path, task_id: str) -> None:
        """:class:`Refused` when a per-task artefact the task page reads leads out of the results
        folder. (``06_eval/<instance_id>/report.json`` is read only from inside ``06_eval``, so the
        folder itself is what is checked.)"""
        key = task_key(task_id)
        for rel in (
            f"03_candidates/{key}.jsonl",
            f"04_matrix/{key}.npz",
            f"05_selection/{key}.json",
            f"06_eval/{key}.json",
            "06_eval",
        ):
            self.check(run_dir / rel)

    def pager(self, path: Path) -> tuple[threading.Lock, TrajectoryPager]:
        """The (lock, pager) of a log, kept for the most recently used logs only."""
        with self._lock:
            entry = self._pagers.get(path)
            if entry is None:
                entry = (threading.Lock(), TrajectoryPager(path))
                self._pagers[path] = entry
                while len(self._pagers) > _PAGERS_KEPT:
                    self._pagers.popitem(last=False)
            self._pagers.move_to_end(path)
            return entry
