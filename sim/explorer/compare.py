"""The Compare page's data: policies compared on the study runner, and the verdict on them.

A comparison is a study (``sim.runner.plan_study``: one design point, several policies, the same
seeds for every policy) run by ``sim.runner.run_sweep`` on a process pool
(``sim.executors.make_executor``) in a background thread, so the page stays responsive, shows
progress and can cancel. Its results are read back from the study directory
(``sim.store.StudyStore``), exactly as ``govsim compare`` writes them; ``govsim report DIR``
works on it too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "DEFAULT_COMPARE_POLICIES",
    "DEFAULT_COMPARE_SEEDS",
    "Comparison",
    "ComparisonProgress",
    "FrontierView",
    "StackedRuns",
    "comparison_frontier",
    "comparison_verdict",
    "default_policies",
    "harm_by_policy",
    "stacked_runs",
    "verdict_lines",
]

#: Policies the Compare page starts with: the status quo (one sudo key), the proposed two-stage
#: on-chain process, a timelocked multisig and a plain stake vote.
DEFAULT_COMPARE_POLICIES: tuple[str, ...] = ("sudo", "v2_two_stage", "timelock", "stake_vote")
#: Seeds per policy the Compare page starts with (4 policies x 4 seeds = 16 runs).
DEFAULT_COMPARE_SEEDS = 4


def default_policies(
    available: Sequence[str], preferred: Sequence[str] = (), *, limit: int = 4
) -> list[str]:
    """The Compare page's initial policy choice: light, so the first comparison is quick.

    Parameters
    ----------
    available
        Every registered policy.
    preferred
        The scenario's own ``policies`` (``"all"`` expanded); used when it is a selection, not
        everything.
    limit
        At most this many policies.

    Returns
    -------
    list of str
        The scenario's selection (its first ``limit``), else :data:`DEFAULT_COMPARE_POLICIES`
        that are registered, else the first ``limit`` registered policies.
    """
    chosen = [p for p in preferred if p in available]
    if chosen and len(set(chosen)) < len(set(available)):
        return chosen[:limit]
    chosen = [p for p in DEFAULT_COMPARE_POLICIES if p in available]
    return chosen[:limit] or list(available[:limit])


@dataclass(frozen=True)
class StackedRuns:
    """Several runs' tables stacked; every row carries ``policy, point, replication, seed``."""

    timeseries: pd.DataFrame
    kpis: pd.DataFrame
    events: pd.DataFrame


_RUN_KEYS = ("policy", "point", "replication", "seed")
_STORE_ONLY = ("run_id", "attempt", "scenario_id")


def stacked_runs(root: str | Path) -> StackedRuns:
    """The succeeded runs of a study directory as :class:`StackedRuns` (seeds from the manifest).

    Raises
    ------
    sim.store.StoreError
        If ``root`` is not a study directory.
    """
    from sim.store import StudyStore

    store = StudyStore(root)
    seeds = store.manifest().set_index("run_id")["seed"]

    def tagged(table: str) -> pd.DataFrame:
        frame = store.table(table)
        if frame.empty:
            return frame
        frame = frame.assign(seed=frame["run_id"].map(seeds).astype("int64"))
        keys = [k for k in _RUN_KEYS if k in frame.columns]
        rest = [c for c in frame.columns if c not in keys and c not in _STORE_ONLY]
        return frame[[*keys, *rest]]

    return StackedRuns(tagged("timeseries"), tagged("kpis"), tagged("events"))


@dataclass(frozen=True)
class ComparisonProgress:
    """Where a comparison stands.

    Attributes
    ----------
    total
        Runs in the study.
    done
        Runs that finished (succeeded or failed).
    failed
        Runs that finished without results.
    finished
        The study is over: every run ran, or it was cancelled and the runs in flight ended.
    cancelled
        The user cancelled it.
    """

    total: int
    done: int
    failed: int
    finished: bool
    cancelled: bool

    @property
    def fraction(self) -> float:
        """Share of runs done, in [0, 1]."""
        return self.done / self.total if self.total else 1.0

    def line(self) -> str:
        """``"7 / 16 runs (1 failed)"``."""
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"{self.done} / {self.total} runs{failed}"


class _CancellableExecutor(Executor):
    """Counts finished runs (a task may hold several, ``sim.runner.run_bundle``) and refuses new
    ones once cancelled.

    After :meth:`cancel` the runner's next ``submit`` gets ``BrokenExecutor``, which it records
    as an ``ABORTED`` run, and queued runs are cancelled in the pool; runs already started finish.
    """

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self.max_workers = int(getattr(inner, "max_workers", 0) or 0)
        self._lock = threading.Lock()
        self.cancelled = False
        self.done = 0
        self.failed = 0

    def _count(self, future: Future, runs: int) -> None:
        if future.cancelled():  # dropped from the queue by cancel(): it never ran
            return
        if future.exception() is not None:
            done, failed = runs, runs
        else:
            # a task is one run (a RunRef) or a bundle of runs sharing a prefix (a list)
            result = future.result()
            refs = result if isinstance(result, list) else [result]
            done = len(refs)
            failed = sum(getattr(ref, "status", "") != "SUCCEEDED" for ref in refs)
        with self._lock:
            self.done += done
            self.failed += failed

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Submit to the pool, unless cancelled."""
        # sim.runner.run_bundle's first argument lists its runs; any other task is one run
        runs = len(args[0]) if getattr(fn, "__name__", "") == "run_bundle" and args else 1
        with self._lock:
            if self.cancelled:
                raise BrokenExecutor("cancelled in the explorer")
            future = self._inner.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda done, runs=runs: self._count(done, runs))
        return future

    def cancel(self) -> None:
        """Refuse further runs and drop the queued ones."""
        with self._lock:
            if not self.cancelled:
                self.cancelled = True
                self._inner.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down."""
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


#: Study directories this process created and has not removed yet: removed when it exits.
_TEMPORARY_STUDIES: set[Path] = set()


@atexit.register
def _remove_temporary_studies() -> None:
    for root in list(_TEMPORARY_STUDIES):
        shutil.rmtree(root, ignore_errors=True)
    _TEMPORARY_STUDIES.clear()


class Comparison:
    """Policies compared on one scenario with common seeds, run by the study runner.

    Parameters
    ----------
    config
        The validated ``SimConfig`` every policy runs.
    policies
        Governance policy names.
    seeds
        Runs per policy.
    entropy
        The study's root entropy: run ``r`` of every policy has seed
        ``sim.sampling.run_seed(entropy, 0, r)``, as in ``govsim compare --entropy``.
    root
        The study directory; when ``None``, a new temporary directory, removed by
        :meth:`discard` or when the process exits.
    executor
        ``sim.executors.make_executor`` kind (``"process"``: a pool of worker processes).
    workers
        Worker processes; default the CPU count, at most one per run.

    Raises
    ------
    ValueError
        For no policy, fewer than one seed, or a plan the runner rejects.
    """

    def __init__(
        self,
        config: Any,
        policies: Sequence[str],
        *,
        seeds: int,
        entropy: int,
        root: str | Path | None = None,
        executor: str = "process",
        workers: int | None = None,
    ) -> None:
        from sim.runner import plan_study

        if seeds < 1:
            raise ValueError(f"seeds: expected at least 1, got {seeds}")
        self.policies = list(policies)
        meta = {"scenario": config.name, "command": "govsim app: Compare policies"}
        self._plan = plan_study(
            [config.model_dump(mode="json")], [{}], self.policies, int(seeds),
            entropy=int(entropy), meta=meta,
        )  # fmt: skip
        self.total = len(self._plan.manifest)
        self.seeds = [int(s) for s in self._plan.manifest["seed"].unique()]
        self._owns_root = root is None
        self.root = (
            Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="govsim-compare-"))
        )
        if self._owns_root:
            _TEMPORARY_STUDIES.add(self.root)
        self._executor_kind = executor
        self._workers = workers or max(1, min(os.cpu_count() or 1, self.total))
        self._executor: _CancellableExecutor | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.summary: Any = None
        self.error: BaseException | None = None

    def start(self) -> Comparison:
        """Start the runs in a background thread and return at once."""
        if self._thread is not None:
            raise RuntimeError("this comparison has already started")
        self._thread = threading.Thread(target=self._run, name="govsim-compare", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def _run(self) -> None:
        from sim.executors import make_executor
        from sim.runner import run_sweep

        try:
            with make_executor(self._executor_kind, workers=self._workers) as pool:
                self._executor = _CancellableExecutor(pool)
                self._ready.set()
                self.summary = run_sweep(
                    self._plan,
                    self.root,
                    self._executor,
                    overwrite=self._owns_root,
                    progress=False,
                )
        except BaseException as exc:  # reported on the page; the thread must not die silently
            self.error = exc
        finally:
            self._ready.set()

    def progress(self) -> ComparisonProgress:
        """How many runs are done now."""
        ex = self._executor
        return ComparisonProgress(
            total=self.total,
            done=ex.done if ex else 0,
            failed=ex.failed if ex else 0,
            finished=self.finished,
            cancelled=bool(ex and ex.cancelled),
        )

    @property
    def finished(self) -> bool:
        """Whether the study is over (all runs, or cancelled and drained, or failed to run)."""
        return self._thread is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the study is over or ``timeout`` seconds passed; returns :attr:`finished`."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished

    def cancel(self) -> None:
        """Stop submitting runs; the runs in flight finish, the rest are recorded as aborted."""
        if self._executor is not None:
            self._executor.cancel()

    def results(self) -> StackedRuns:
        """The succeeded runs' tables (call when :attr:`finished`).

        Raises
        ------
        RuntimeError
            If the study is still running, or the runner itself failed (not a run: those are
            reported by :meth:`failures`).
        """
        if not self.finished:
            raise RuntimeError("the comparison is still running")
        if self.error is not None:
            raise RuntimeError(f"the study runner failed: {self.error}") from self.error
        return stacked_runs(self.root)

    def failures(self) -> pd.DataFrame:
        """Runs that did not succeed: ``run_id, policy, seed, status, error``."""
        from sim.store import StudyStore

        manifest = StudyStore(self.root).manifest()
        bad = manifest[~manifest["status"].isin(["SUCCEEDED", "PENDING"])]
        return bad[["run_id", "policy", "seed", "status", "error"]].reset_index(drop=True)

    def discard(self) -> None:
        """Cancel if running, then delete the study directory this comparison created.

        Returns at once: while runs are still in flight, the directory is removed by a
        background thread once they end.
        """
        self.cancel()
        if not self._owns_root:
            return

        def remove() -> None:
            self.wait()
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)
            _TEMPORARY_STUDIES.discard(self.root)

        if self.finished or self._thread is None:
            remove()
        else:
            threading.Thread(target=remove, name="govsim-compare-cleanup", daemon=True).start()


def comparison_verdict(
    kpis: pd.DataFrame, *, reference: str = "sudo", cannot_act: Sequence[str] = ()
) -> Any:
    """The verdict on harm versus reaction speed of a comparison (``sim.report.verdict``).

    Parameters
    ----------
    kpis
        One row per run with ``policy``, ``point`` and ``replication`` (:class:`StackedRuns`).
    reference
        The policy the others are compared with.
    cannot_act
        Designs that cannot act (:func:`comparison_frontier`): named, never ranked.

    Returns
    -------
    sim.report.Verdict
    """
    from sim.report import verdict

    return verdict(kpis, group="policy", reference=reference, cannot_act=cannot_act)


@dataclass(frozen=True)
class FrontierView:
    """The frontier of a comparison for the Compare page.

    Attributes
    ----------
    result
        The :class:`sim.frontier.FrontierResult`; ``can_act`` is judged from the runs (a
        design can act when it executed a warranted proposal), not by the conformance check.
    lines
        The frontier verdict's lines.
    chart
        One row per policy for the chart: ``policy, harm, harm_lo, harm_hi, days_to_act,
        days_lo, days_hi, status`` (``Pareto-efficient``, ``dominated`` or ``cannot act
        (judged from the runs)``), intervals collapsed to the mean where undefined.
    """

    result: Any
    lines: tuple[str, ...]
    chart: pd.DataFrame


def comparison_frontier(kpis: pd.DataFrame, *, level: float = 0.95) -> FrontierView | None:
    """Harm against measured days to act per policy of a comparison (:mod:`sim.frontier`),
    with ``can_act`` judged from the runs; None when the runs have no ``harm.total``.

    Examples
    --------
    >>> kpis = pd.DataFrame({"policy": ["a", "a", "b", "b"], "harm.total": [1.0, 2.0, 0.5, 0.7],
    ...                      "reaction.days_to_act_mean": [1.0, 1.0, 9.0, 9.0],
    ...                      "governance.warranted_proposals": [1, 1, 1, 1],
    ...                      "governance.warranted_executed": [1, 1, 0, 0]})
    >>> view = comparison_frontier(kpis)
    >>> view.result.pareto, view.result.cannot_act
    (('a',), ('b',))
    """
    from sim.frontier import HARM_KPI, frontier, frontier_verdict

    if kpis.empty or HARM_KPI not in kpis.columns:
        return None
    result = frontier(kpis, level=level)
    chart = result.table[
        ["policy", "harm", "harm_lo", "harm_hi", "days_to_act", "days_lo", "days_hi"]
    ].copy()
    for mean, low, high in (("harm", "harm_lo", "harm_hi"), ("days_to_act", "days_lo", "days_hi")):
        chart[low] = chart[low].fillna(chart[mean])
        chart[high] = chart[high].fillna(chart[mean])
    chart["status"] = [
        "Pareto-efficient"
        if row.pareto
        else "dominated"
        if row.can_act
        else "cannot act (judged from the runs)"
        for row in result.table.itertuples(index=False)
    ]
    return FrontierView(result, frontier_verdict(result).lines, chart)


def verdict_lines(line: str) -> list[str]:
    """A verdict line's clauses, one per line: split at ``"; "`` outside parentheses.

    Examples
    --------
    >>> verdict_lines("verdict: 1 of 2 do less harm (harm: x; sudo 3); least harm: a")
    ['1 of 2 do less harm (harm: x; sudo 3)', 'least harm: a']
    """
    text = line.removeprefix("verdict: ")
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith("; ", i):
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return [p for p in parts if p]


def harm_by_policy(
    kpis: pd.DataFrame, harm_kpi: str | None, *, level: float = 0.95
) -> pd.DataFrame:
    """Mean and confidence interval of the verdict's harm KPI per policy, for a chart.

    Parameters
    ----------
    kpis
        One row per run with ``policy``.
    harm_kpi
        ``Verdict.harm_kpi``: a KPI name, or ``"loss = -<name>"`` when harm is its negative.
    level
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        ``policy, kpi, harm, ci_lo, ci_hi, n`` with ``harm`` signed so larger = worse; empty
        when ``harm_kpi`` is ``None`` or absent.
    """
    from sim.stats import mean_ci

    columns = ["policy", "kpi", "harm", "ci_lo", "ci_hi", "n"]
    if harm_kpi is None:
        return pd.DataFrame(columns=columns)
    name = harm_kpi.removeprefix("loss = -")
    sign = -1.0 if harm_kpi.startswith("loss = -") else 1.0
    if name not in kpis.columns:
        return pd.DataFrame(columns=columns)
    rows = []
    for policy, part in kpis.groupby("policy", sort=False):
        ci = mean_ci(sign * part[name].to_numpy(dtype=float), level=level)
        low, high = sorted((ci.low, ci.high))
        rows.append([policy, harm_kpi, ci.mean, low, high, ci.n])
    return pd.DataFrame(rows, columns=columns)
