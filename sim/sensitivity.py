"""Which parameters change the verdict: one-at-a-time and Morris sensitivity of a comparison.

Given a scenario, two or more policies and parameters (dotted paths into the scenario with a
``[low, high]`` range), a sensitivity study runs, through the ordinary study runner (so it runs
on any executor, parallelises, shows a progress bar and resumes like any study):

- **one at a time** (OAT): the scenario as it is (the base), then each parameter at its low and
  at its high end with the others at the base;
- **Morris** elementary effects (a global screening design; Morris 1991, Campolongo et al.
  2007): ``trajectories`` random one-factor-at-a-time paths through a ``levels``-level grid of
  the whole box, each step moving one parameter by ``levels / (2 (levels - 1))`` of its range.

Every design point runs every policy with the same seeds (common random numbers across
policies *and* points: ``sim.runner.plan_study(common_seeds=True)``), so an effect is not a
seed difference. The output studied is, by default, the contrast of ``harm.total`` between
the first two policies (``harm.total[a] - harm.total[b]``, paired by replication; larger = ``a``
does more harm) and, for every point, the ranking of all policies by mean ``harm.total``.

Results are dataclasses (:class:`SensitivityResult` with :class:`OATResult` and
:class:`MorrisResult`) holding tables; :meth:`OATResult.tornado_table` is the data of a tornado
chart and :func:`tornado_figure` draws it. The whole design is stored in the study's
``sweep.json`` (``sensitivity``), so :func:`analyse_sensitivity` re-reads a finished (or
resumed) study directory alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sim.runner import RunConfig, StudyPlan, plan_study, resume, run_sweep
from sim.sampling import new_entropy
from sim.schema import Scenario, ScenarioError, parse_bounds
from sim.store import StudyStore

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DESIGN_STREAM",
    "MorrisResult",
    "OATResult",
    "Parameter",
    "SensitivityDesign",
    "SensitivityResult",
    "analyse_sensitivity",
    "design_sensitivity",
    "morris_unit_trajectories",
    "plan_sensitivity",
    "run_sensitivity",
    "sensitivity_parameters",
    "tornado_figure",
]

#: First element of the spawn key of the Morris design's generator (never a run's key).
DESIGN_STREAM: int = 2**40 + 1
#: Most parameters in one analysis.
MAX_PARAMETERS: int = 64

Method = Literal["oat", "morris", "both"]


# -- parameters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One parameter of a sensitivity analysis: a dotted path and its range.

    Attributes
    ----------
    path
        Dotted path into the scenario body (``market.contagion_beta``, ``shocks.0.day``).
    low, high
        The range's ends in the field's unit (numbers: quantities were converted).
    base
        The scenario's own value (None when the field is unset).
    integer
        Whether the field takes integers (values are rounded).
    """

    path: str
    low: float
    high: float
    base: Any = None
    integer: bool = False

    def value(self, unit: float) -> float | int:
        """The value at ``unit`` in [0, 1] of the range (rounded for an integer field)."""
        raw = self.low + float(unit) * (self.high - self.low)
        return round(raw) if self.integer else float(raw)


def _lookup(body: Any, path: str) -> Any:
    node = body
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def sensitivity_parameters(
    scenario: Scenario, ranges: Mapping[str, Sequence[Any]]
) -> tuple[Parameter, ...]:
    """Check ``ranges`` against ``scenario`` and turn them into :class:`Parameter` objects.

    Parameters
    ----------
    scenario
        The scenario whose base point the parameters move away from.
    ranges
        Dotted path -> ``[low, high]``; quantities (``"1 hour"``) convert into the field's
        unit. Both ends are validated as overrides of the scenario (the checks a file gets).

    Raises
    ------
    ScenarioError
        Naming ``sensitivity.<path>``: an unknown path, a value out of the field's bounds,
        low >= high, or more than :data:`MAX_PARAMETERS` parameters.
    """
    source = scenario.source or "<scenario>"
    if not ranges:
        raise ScenarioError(source, "sensitivity", {}, "at least one parameter PATH=[low, high]")
    if len(ranges) > MAX_PARAMETERS:
        raise ScenarioError(
            source,
            "sensitivity",
            f"{len(ranges)} parameters",
            f"at most {MAX_PARAMETERS} parameters",
        )
    body = scenario.raw or scenario.body
    bounds = parse_bounds(dict(ranges), body, source, where="sensitivity")
    dumped = scenario.config.model_dump(mode="json")
    out = []
    for path, (lo, hi) in bounds.items():
        base = _lookup(dumped, path)
        integer = (isinstance(base, int) and not isinstance(base, bool)) or (
            base is None and isinstance(lo, int) and isinstance(hi, int)
        )
        param = Parameter(path, float(lo), float(hi), base, integer)
        for end, value in (("low", param.value(0.0)), ("high", param.value(1.0))):
            try:
                scenario.to_config(overrides={path: value})
            except ScenarioError as exc:
                raise ScenarioError(
                    source,
                    f"sensitivity.{path} ({end} end)",
                    value,
                    f"a valid {exc.path}: {exc.expected}",
                ) from None
        out.append(param)
    return tuple(out)


# -- designs ------------------------------------------------------------------------------------
def morris_unit_trajectories(
    k: int, trajectories: int, levels: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Morris one-factor-at-a-time trajectories in the unit cube.

    Each trajectory starts at a random point of the ``levels``-level grid and moves each of
    the ``k`` factors once, in random order, by ``Δ = levels / (2 (levels - 1))`` (up when that
    stays inside [0, 1], else down).

    Returns
    -------
    points : ndarray, shape (trajectories, k + 1, k)
        The points of every trajectory.
    moved : ndarray, shape (trajectories, k)
        Which factor step ``s`` (from point ``s`` to ``s + 1``) moves.

    Examples
    --------
    >>> pts, moved = morris_unit_trajectories(3, 2, 4, np.random.default_rng(0))
    >>> pts.shape, sorted(moved[0].tolist())
    ((2, 4, 3), [0, 1, 2])
    >>> bool(np.all(np.count_nonzero(np.diff(pts, axis=1), axis=2) == 1))
    True
    """
    if levels < 2 or levels % 2:
        raise ValueError(f"levels: expected an even number >= 2, got {levels}")
    if k < 1 or trajectories < 1:
        raise ValueError("k and trajectories: expected >= 1")
    jump = levels // 2
    points = np.empty((trajectories, k + 1, k))
    moved = np.empty((trajectories, k), dtype=int)
    for t in range(trajectories):
        grid = rng.integers(0, levels, size=k)
        order = rng.permutation(k)
        points[t, 0] = grid / (levels - 1)
        for s, i in enumerate(order):
            grid[i] = grid[i] + jump if grid[i] + jump <= levels - 1 else grid[i] - jump
            points[t, s + 1] = grid / (levels - 1)
            moved[t, s] = i
    return points, moved


@dataclass(frozen=True)
class SensitivityDesign:
    """The points of a sensitivity study and what each is for.

    Attributes
    ----------
    parameters
        The parameters.
    method
        ``"oat"``, ``"morris"`` or ``"both"``.
    trajectories, levels, seed
        The Morris design (0 trajectories for OAT alone); ``seed`` drew it.
    points
        Design points (path -> value), in study order.
    roles
        Per point: ``role`` (``base``, ``low``, ``high``, ``morris``), ``parameter`` (the one
        moved, for OAT ends), ``trajectory`` and ``step`` (Morris).
    """

    parameters: tuple[Parameter, ...]
    method: Method
    trajectories: int
    levels: int
    seed: int
    points: tuple[dict[str, Any], ...]
    roles: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``sweep.json``."""
        return {
            "parameters": [asdict(p) for p in self.parameters],
            "method": self.method,
            "trajectories": self.trajectories,
            "levels": self.levels,
            "seed": str(self.seed),
            "points": [dict(p) for p in self.points],
            "roles": [dict(r) for r in self.roles],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SensitivityDesign:
        """Read :meth:`to_dict`'s data back."""
        return cls(
            parameters=tuple(Parameter(**p) for p in data["parameters"]),
            method=data["method"],
            trajectories=int(data["trajectories"]),
            levels=int(data["levels"]),
            seed=int(data["seed"]),
            points=tuple(dict(p) for p in data["points"]),
            roles=tuple(dict(r) for r in data["roles"]),
        )


def design_sensitivity(
    parameters: Sequence[Parameter],
    *,
    method: Method = "both",
    trajectories: int = 4,
    levels: int = 4,
    seed: int = 0,
) -> SensitivityDesign:
    """Lay out the points of a sensitivity study.

    OAT gives ``1 + 2k`` points (base, then each parameter's low and high end); Morris gives
    ``trajectories * (k + 1)`` points. ``seed`` draws the Morris trajectories (the same seed,
    the same design).
    """
    if method not in ("oat", "morris", "both"):
        raise ValueError(f"method: expected 'oat', 'morris' or 'both', got {method!r}")
    params = tuple(parameters)
    points: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    if method in ("oat", "both"):
        points.append({})
        roles.append({"role": "base", "parameter": None, "trajectory": None, "step": None})
        for p in params:
            for end, unit in (("low", 0.0), ("high", 1.0)):
                points.append({p.path: p.value(unit)})
                roles.append({"role": end, "parameter": p.path, "trajectory": None, "step": None})
    n_traj = trajectories if method in ("morris", "both") else 0
    if n_traj:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DESIGN_STREAM,)))
        unit, moved = morris_unit_trajectories(len(params), n_traj, levels, rng)
        for t in range(n_traj):
            for s in range(len(params) + 1):
                points.append({p.path: p.value(unit[t, s, i]) for i, p in enumerate(params)})
                roles.append(
                    {
                        "role": "morris",
                        "parameter": params[moved[t, s - 1]].path if s else None,
                        "trajectory": t,
                        "step": s,
                    }
                )
    return SensitivityDesign(params, method, n_traj, levels, int(seed), tuple(points), tuple(roles))


def plan_sensitivity(
    scenario: Scenario,
    policies: Sequence[str],
    design: SensitivityDesign,
    *,
    replications: int = 1,
    entropy: int | None = None,
    run_config: RunConfig | None = None,
) -> StudyPlan:
    """The study plan of a sensitivity design: every point x policy x replication.

    Every point is validated once here (errors name ``sensitivity point <i>``). Seeds are
    common to every point and policy of a replication (``common_seeds=True``).
    """
    configs = [
        scenario.to_config(overrides=point, label=f"sensitivity point {i}: ")
        if point
        else scenario.config
        for i, point in enumerate(design.points)
    ]
    meta = {
        "scenario": scenario.name,
        "description": scenario.description,
        "scenario_file": scenario.source,
        "scenario_hash": scenario.hash,
        "command": "sensitivity",
        "sensitivity": design.to_dict(),
    }
    return plan_study(
        configs,
        list(design.points),
        list(policies),
        replications,
        entropy=entropy,
        run_config=run_config,
        meta=meta,
        common_seeds=True,
    )


# -- analysis -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OATResult:
    """One-at-a-time effects.

    Attributes
    ----------
    table
        One row per parameter: ``parameter, low, high, base, y_base, y_low, y_high,
        effect_low, effect_high, swing, ranking_base, ranking_low, ranking_high, flips_low,
        flips_high, changes_ranking`` (effects = output at the end minus output at the base;
        ``flips_low``/``flips_high``: the ranking at that end differs from the base's).
    output
        What the output is (with its unit).
    """

    table: pd.DataFrame
    output: str

    def tornado_table(self) -> pd.DataFrame:
        """``parameter, low_effect, high_effect``, the widest swing first (a tornado chart)."""
        frame = self.table.sort_values("swing", ascending=False, kind="stable")
        return (
            frame[["parameter", "effect_low", "effect_high"]]
            .rename(columns={"effect_low": "low_effect", "effect_high": "high_effect"})
            .reset_index(drop=True)
        )


@dataclass(frozen=True)
class MorrisResult:
    """Morris elementary effects per parameter.

    Attributes
    ----------
    table
        ``parameter, mu, mu_star, sigma, n_effects, ranking_changes``: the mean, mean absolute
        value and standard deviation of the elementary effects (change of the output across
        the parameter's whole range, from each step), how many steps gave one, and the share
        of a parameter's steps across which the policies' ranking changed. Sorted by
        ``mu_star``, largest first.
    output
        What the output is.
    """

    table: pd.DataFrame
    output: str


@dataclass(frozen=True)
class SensitivityResult:
    """A sensitivity study's reading.

    Attributes
    ----------
    metric
        The KPI compared (``harm.total``).
    policies
        The policies, in study order.
    contrast
        ``(a, b)``: the output is ``metric[a] - metric[b]`` (None with one policy: the
        output is that policy's metric).
    output
        The output in words.
    points
        One row per design point: ``point, role, parameter, trajectory, step``, the mean
        metric of each policy, ``y`` (the output), ``ranking`` (policies from least to most
        harm) and ``n`` (replications every policy finished).
    oat, morris
        The analyses the design holds (None otherwise).
    root
        The study directory.
    """

    metric: str
    policies: tuple[str, ...]
    contrast: tuple[str, str] | None
    output: str
    points: pd.DataFrame
    oat: OATResult | None = None
    morris: MorrisResult | None = None
    root: Path | None = field(default=None, compare=False)

    def tornado_table(self) -> pd.DataFrame:
        """The OAT tornado data (:meth:`OATResult.tornado_table`); empty without OAT."""
        if self.oat is None:
            return pd.DataFrame(columns=["parameter", "low_effect", "high_effect"])
        return self.oat.tornado_table()

    def ranking_changers(self) -> list[str]:
        """Parameters that change the policies' ranking (at an OAT end or on a Morris step)."""
        names: list[str] = []
        if self.oat is not None:
            names += self.oat.table.loc[self.oat.table["changes_ranking"], "parameter"].tolist()
        if self.morris is not None:
            names += self.morris.table.loc[
                self.morris.table["ranking_changes"] > 0, "parameter"
            ].tolist()
        return list(dict.fromkeys(names))

    def lines(self) -> list[str]:
        """A short text summary (one line per parameter)."""
        out = [f"sensitivity of {self.output}"]
        base = self.points[self.points["role"] == "base"]
        if len(base):
            out.append(f"  base: {base['y'].iloc[0]:.4g}; ranking {base['ranking'].iloc[0]}")
        if self.oat is not None:
            for row in self.oat.table.sort_values("swing", ascending=False).itertuples():
                flag = " (changes the ranking)" if row.changes_ranking else ""
                out.append(
                    f"  {row.parameter}: low {row.effect_low:+.4g}, high "
                    f"{row.effect_high:+.4g}{flag}"
                )
        if self.morris is not None:
            for row in self.morris.table.itertuples():
                out.append(
                    f"  {row.parameter}: Morris mu* {row.mu_star:.4g}, sigma "
                    f"{row.sigma:.4g}, ranking changed on {row.ranking_changes:.0%} of "
                    "steps"
                )
        return out

    def figure(self, **kwargs: Any) -> Figure:
        """The tornado chart (:func:`tornado_figure`)."""
        return tornado_figure(self, **kwargs)


def _ranking(means: Mapping[str, float]) -> str:
    """Policies from least to most harm (``a < b = c``)."""
    order = sorted(means, key=lambda p: (means[p], p))
    text = order[0] if order else ""
    for prev, name in itertools.pairwise(order):
        text += (" = " if means[name] == means[prev] else " < ") + name
    return text


def _point_table(
    kpis: pd.DataFrame,
    design: SensitivityDesign,
    policies: Sequence[str],
    metric: str,
    contrast: tuple[str, str] | None,
) -> pd.DataFrame:
    """One row per design point: each policy's mean metric, the output and the ranking."""
    if metric not in kpis.columns:
        raise KeyError(f"metric {metric!r} is not a KPI of this study")
    wide = kpis.pivot_table(
        index=["point", "replication"], columns="policy", values=metric, aggfunc="first"
    )
    wide = wide.reindex(columns=list(policies)).dropna()  # replications every policy finished
    rows = []
    for p, role in enumerate(design.roles):
        sub = wide.xs(p, level="point") if p in wide.index.get_level_values("point") else None
        row: dict[str, Any] = {"point": p, **role}
        if sub is None or sub.empty:
            row.update(dict.fromkeys(policies, math.nan), y=math.nan, ranking="", n=0)
        else:
            means = {name: float(sub[name].mean()) for name in policies}
            if contrast is not None:
                y = float((sub[contrast[0]] - sub[contrast[1]]).mean())
            else:
                y = means[policies[0]]
            row.update(means, y=y, ranking=_ranking(means), n=len(sub))
        rows.append(row)
    return pd.DataFrame(rows)


def _swing(*effects: float) -> float:
    """The largest absolute effect (NaN when none is known: a point has no complete run)."""
    known = [abs(e) for e in effects if np.isfinite(e)]
    return max(known) if known else math.nan


def _oat(points: pd.DataFrame, design: SensitivityDesign, output: str) -> OATResult:
    base = points[points["role"] == "base"].iloc[0]
    rows = []
    for p in design.parameters:
        ends = points[points["parameter"].eq(p.path) & points["role"].isin(["low", "high"])]
        low = ends[ends["role"] == "low"].iloc[0]
        high = ends[ends["role"] == "high"].iloc[0]
        effect_low, effect_high = low["y"] - base["y"], high["y"] - base["y"]
        known = bool(base["ranking"])
        flips_low = known and bool(low["ranking"]) and low["ranking"] != base["ranking"]
        flips_high = known and bool(high["ranking"]) and high["ranking"] != base["ranking"]
        rows.append(
            {
                "parameter": p.path,
                "low": p.value(0.0),
                "high": p.value(1.0),
                "base": p.base,
                "y_base": base["y"],
                "y_low": low["y"],
                "y_high": high["y"],
                "effect_low": effect_low,
                "effect_high": effect_high,
                "swing": _swing(effect_low, effect_high),
                "ranking_base": base["ranking"],
                "ranking_low": low["ranking"],
                "ranking_high": high["ranking"],
                "flips_low": flips_low,
                "flips_high": flips_high,
                "changes_ranking": bool(
                    low["ranking"]
                    and high["ranking"]
                    and base["ranking"]
                    and {low["ranking"], high["ranking"]} != {base["ranking"]}
                ),
            }
        )
    return OATResult(pd.DataFrame(rows), output)


def _morris(points: pd.DataFrame, design: SensitivityDesign, output: str) -> MorrisResult:
    morris = points[points["role"] == "morris"]
    effects: dict[str, list[float]] = {p.path: [] for p in design.parameters}
    changes: dict[str, list[bool]] = {p.path: [] for p in design.parameters}
    by_path = {p.path: p for p in design.parameters}
    for t in range(design.trajectories):
        traj = morris[morris["trajectory"] == t].sort_values("step")
        for s in range(1, len(traj)):
            prev, cur = traj.iloc[s - 1], traj.iloc[s]
            path = cur["parameter"]
            param = by_path[path]
            before = design.points[int(prev["point"])][path]
            after = design.points[int(cur["point"])][path]
            step = (after - before) / (param.high - param.low)
            if step == 0 or not (np.isfinite(cur["y"]) and np.isfinite(prev["y"])):
                continue  # rounding collapsed the step, or a point has no complete run
            effects[path].append(float((cur["y"] - prev["y"]) / step))
            changes[path].append(bool(cur["ranking"] != prev["ranking"]))
    rows = []
    for path, ee in effects.items():
        values = np.asarray(ee, dtype=float)
        rows.append(
            {
                "parameter": path,
                "mu": float(values.mean()) if values.size else math.nan,
                "mu_star": float(np.abs(values).mean()) if values.size else math.nan,
                "sigma": float(values.std(ddof=1)) if values.size > 1 else math.nan,
                "n_effects": int(values.size),
                "ranking_changes": float(np.mean(changes[path])) if changes[path] else math.nan,
            }
        )
    table = pd.DataFrame(rows).sort_values(
        "mu_star", ascending=False, kind="stable", na_position="last"
    )
    return MorrisResult(table.reset_index(drop=True), output)


def analyse_sensitivity(
    root: str | Path,
    *,
    metric: str = "harm.total",
    contrast: tuple[str, str] | None = None,
) -> SensitivityResult:
    """Read a sensitivity study directory (finished, or partly: only complete replications
    count) into a :class:`SensitivityResult`.

    Parameters
    ----------
    root
        The study directory (written by :func:`run_sensitivity`).
    metric
        The KPI compared (larger = worse).
    contrast
        ``(a, b)`` for the output ``metric[a] - metric[b]``; default the study's first two
        policies (one policy: its metric).
    """
    store = StudyStore(root)
    sweep = store.sweep()
    if "sensitivity" not in sweep:
        raise ValueError(f"{store.root}: not a sensitivity study (no 'sensitivity' in sweep.json)")
    design = SensitivityDesign.from_dict(sweep["sensitivity"])
    policies = tuple(sweep["policies"])
    if contrast is None and len(policies) >= 2:
        contrast = (policies[0], policies[1])
    if contrast is not None and not set(contrast) <= set(policies):
        raise ValueError(f"contrast {contrast}: expected two of the study's policies {policies}")
    output = (
        f"{metric}[{contrast[0]}] - {metric}[{contrast[1]}]"
        if contrast
        else f"{metric}[{policies[0]}]"
    )
    kpis = store.table("kpis")
    if kpis.empty:
        raise ValueError(f"{store.root}: no succeeded runs to analyse")
    points = _point_table(kpis, design, policies, metric, contrast)
    oat = _oat(points, design, output) if design.method in ("oat", "both") else None
    morris = _morris(points, design, output) if design.trajectories else None
    return SensitivityResult(metric, policies, contrast, output, points, oat, morris, store.root)


def run_sensitivity(
    scenario: Scenario,
    policies: Sequence[str],
    ranges: Mapping[str, Sequence[Any]],
    root: str | Path,
    executor: Executor,
    *,
    method: Method = "both",
    replications: int = 1,
    trajectories: int = 4,
    levels: int = 4,
    entropy: int | None = None,
    metric: str = "harm.total",
    contrast: tuple[str, str] | None = None,
    run_config: RunConfig | None = None,
    resume_study: bool = False,
    progress: bool = True,
) -> SensitivityResult:
    """Plan, run (or resume) and analyse a sensitivity study in ``root``.

    Parameters
    ----------
    scenario
        The base scenario.
    policies
        The policies compared (the first two form the contrast unless ``contrast``).
    ranges
        Dotted path -> ``[low, high]`` (:func:`sensitivity_parameters`).
    root
        The study directory; must not hold a study unless ``resume_study``.
    executor
        Any ``concurrent.futures.Executor`` (``sim.executors.make_executor``).
    method, trajectories, levels
        The design (:func:`design_sensitivity`).
    replications
        Seeds per point and policy.
    entropy
        The study's root entropy (fresh when None; it also seeds the Morris design).
    metric, contrast
        What is analysed (:func:`analyse_sensitivity`).
    run_config
        How runs execute (default: KPIs only, the scenario's market constants).
    resume_study
        Continue the study in ``root`` (only its runs that are not done).
    progress
        Show the runner's progress bar.
    """
    store = StudyStore(root)
    if resume_study and store.exists():
        resume(root, executor, progress=progress)
        return analyse_sensitivity(root, metric=metric, contrast=contrast)
    entropy = new_entropy() if entropy is None else int(entropy)
    params = sensitivity_parameters(scenario, ranges)
    design = design_sensitivity(
        params, method=method, trajectories=trajectories, levels=levels, seed=entropy
    )
    plan = plan_sensitivity(
        scenario,
        policies,
        design,
        replications=replications,
        entropy=entropy,
        run_config=run_config or RunConfig(mode="kpi"),
    )
    run_sweep(plan, root, executor, progress=progress)
    return analyse_sensitivity(root, metric=metric, contrast=contrast)


# -- the tornado chart --------------------------------------------------------------------------
def tornado_figure(
    data: SensitivityResult | OATResult | pd.DataFrame,
    *,
    title: str | None = None,
    xlabel: str | None = None,
) -> Figure:
    """A tornado chart: one bar per parameter from its low-end to its high-end effect.

    Parameters
    ----------
    data
        A result, or a table with ``parameter, low_effect, high_effect`` (widest first).
    title, xlabel
        Labels (default: the output's description).

    Returns
    -------
    matplotlib.figure.Figure
        Drawn without pyplot (no global figure state; safe in workers and reports).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    output = ""
    if isinstance(data, (SensitivityResult, OATResult)):
        output, table = data.output, data.tornado_table()
    else:
        table = data
    rows = table.iloc[::-1]  # widest on top
    fig = Figure(figsize=(7.0, 0.5 * len(rows) + 1.4))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    # Side by side within a row, so an end is never hidden behind the other on the same side.
    ax.barh(y + 0.2, rows["low_effect"].to_numpy(dtype=float), height=0.4, color="#4c78a8")
    ax.barh(y - 0.2, rows["high_effect"].to_numpy(dtype=float), height=0.4, color="#f58518")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, rows["parameter"].astype(str).tolist())
    ax.set_xlabel(xlabel or (f"change of {output} from the base" if output else "effect"))
    ax.set_title(title or "One-at-a-time sensitivity")
    ax.legend(
        handles=[
            Patch(color="#4c78a8", label="parameter at its low end"),
            Patch(color="#f58518", label="parameter at its high end"),
        ],
        loc="best",
        fontsize="small",
    )
    fig.tight_layout()
    return fig
