"""Study summaries: the compare table with confidence intervals, the verdict line, and a
self-contained HTML report with embedded PNG plots (matplotlib, Agg backend).

The report reads only the study directory (:class:`sim.store.StudyStore`): price paths with
bands across seeds, PnL distributions per role, emission shares, decentralisation metrics,
the compare table and the verdict on harm versus reaction speed.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.stats import mean_ci, paired_diff_ci
from sim.store import StudyStore

__all__ = [
    "HARM_KPIS",
    "SPEED_KPIS",
    "StudyStatus",
    "Verdict",
    "build_report",
    "compare_summary",
    "complete_pairs",
    "format_compare_table",
    "study_status",
    "verdict",
]

#: KPIs read as "harm", with the sign that turns each into "larger = worse", in order of
#: preference; the first present is used. TAO holders' loss (minus their relative PnL, i.e. the
#: TAO price's fall over the run) comes first: its paired difference between policies is
#: precise, while the maximum drawdown also carries the path's exogenous noise.
HARM_KPIS: tuple[tuple[str, float], ...] = (
    ("pnl.tao_holders.mean", -1.0),
    ("tao.max_drawdown", 1.0),
    ("fp.emission_share_hit", 1.0),
    ("exploits.stolen_tao", 1.0),
)
#: KPIs read as "reaction time" (larger = slower), in order of preference; the first with a
#: finite value is used (time to stop exploits when the study has exploits, else the delay the
#: policy enforces on an emission lever).
SPEED_KPIS: tuple[str, ...] = (
    "exploits.mean_days_to_stop",
    "decentralisation.enforced_delay_days",
)
_ID_COLUMNS = {"run_id", "attempt", "scenario_id", "point", "replication", "policy", "seed"}
_TIME_COLUMNS = ("day", "days", "time_days", "block", "epoch", "step")


# -- the compare table ---------------------------------------------------------------------------
def kpi_columns(kpis: pd.DataFrame) -> list[str]:
    """Numeric KPI columns (identifiers and booleans excluded), in table order."""
    return [
        c for c in kpis.columns
        if c not in _ID_COLUMNS
        and pd.api.types.is_numeric_dtype(kpis[c])
        and not pd.api.types.is_bool_dtype(kpis[c])
    ]


def constant_kpis(kpis: pd.DataFrame) -> dict[str, float]:
    """KPIs with one value in every run (e.g. the horizon): they cannot separate policies."""
    out = {}
    for col in kpi_columns(kpis):
        values = kpis[col].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0 or (finite.size == values.size and np.all(finite == finite[0])):
            out[col] = float(finite[0]) if finite.size else float("nan")
    return out


def compare_summary(kpis: pd.DataFrame, *, group: str = "policy", level: float = 0.95,
                    policies: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and Student-t confidence interval of every KPI per group.

    Parameters
    ----------
    kpis
        One row per run (``store.table("kpis")``).
    group
        The column that separates the arms (the policy).
    level
        Confidence level.
    policies
        Order of the groups (default: order of appearance).

    Returns
    -------
    DataFrame
        ``policy, kpi, mean, low, high, n``.
    """
    rows = []
    order = list(policies) if policies is not None else list(dict.fromkeys(kpis[group]))
    for name in order:
        sub = kpis[kpis[group] == name]
        for kpi in kpi_columns(kpis):
            ci = mean_ci(sub[kpi].to_numpy(dtype=float), level=level)
            rows.append({group: name, "kpi": kpi, "mean": ci.mean, "low": ci.low,
                         "high": ci.high, "n": ci.n})
    return pd.DataFrame(rows, columns=[group, "kpi", "mean", "low", "high", "n"])


def _cell(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(low):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {(high - low) / 2:.2g}"


def wide_table(summary: pd.DataFrame, *, group: str = "policy") -> pd.DataFrame:
    """One row per KPI, one column per policy, cells ``mean ± half-width``."""
    cells = summary.assign(cell=[_cell(m, lo, hi) for m, lo, hi in
                                 zip(summary["mean"], summary["low"], summary["high"],
                                     strict=True)])
    table = cells.pivot(index="kpi", columns=group, values="cell")
    return table.reindex(index=list(dict.fromkeys(summary["kpi"])),
                         columns=list(dict.fromkeys(summary[group])))


def format_compare_table(summary: pd.DataFrame, *, width: int = 140, level: float = 0.95) -> str:
    """The wide table as text, split into blocks of policies that fit ``width`` characters."""
    table = wide_table(summary)
    if table.empty:
        return "(no KPIs)"
    label = max(len("KPI"), *(len(str(k)) for k in table.index))
    col = max(12, *(len(str(v)) for v in table.to_numpy().ravel()),
              *(len(str(c)) for c in table.columns)) + 2
    per_block = max(1, (width - label) // col)
    blocks = []
    columns = list(table.columns)
    for start in range(0, len(columns), per_block):
        cols = columns[start:start + per_block]
        lines = ["KPI".ljust(label) + "".join(str(c).rjust(col) for c in cols)]
        lines.append("-" * len(lines[0]))
        for kpi, row in table[cols].iterrows():
            lines.append(str(kpi).ljust(label) + "".join(str(row[c]).rjust(col) for c in cols))
        blocks.append("\n".join(lines))
    note = f"cells: mean ± half-width of the {level:.0%} t confidence interval over seeds"
    return "\n\n".join(blocks) + "\n" + note


# -- runs not done: the header of every summary ---------------------------------------------------
@dataclass(frozen=True)
class StudyStatus:
    """How far a study got: runs by status and the (point, replication) pairs every policy
    finished.

    Attributes
    ----------
    counts
        Runs by status (``SUCCEEDED``, ``PENDING``, ``FAILED``, ``ABORTED``).
    pairs, complete
        Design (point, replication) pairs, and those where every policy's run succeeded.
    """

    counts: dict[str, int]
    pairs: int
    complete: int

    @property
    def total(self) -> int:
        """All runs of the study."""
        return sum(self.counts.values())

    @property
    def finished(self) -> bool:
        """True when every run succeeded."""
        return self.counts.get("SUCCEEDED", 0) == self.total

    def header(self) -> str | None:
        """The warning printed above every summary of an unfinished study (None if finished)."""
        if self.finished:
            return None
        parts = ", ".join(f"{self.counts[s]} {s}" for s in ("PENDING", "FAILED", "ABORTED")
                          if self.counts.get(s))
        return (f"unfinished study: {self.total - self.counts.get('SUCCEEDED', 0)} of "
                f"{self.total} runs not done ({parts}); the tables use the "
                f"{self.counts.get('SUCCEEDED', 0)} succeeded runs, the verdict only the "
                f"{self.complete} of {self.pairs} seeds (point x replication) every policy "
                "finished; `govsim resume` runs the rest")


def study_status(manifest: pd.DataFrame) -> StudyStatus:
    """The :class:`StudyStatus` of a manifest (one row per run)."""
    counts = {str(k): int(v) for k, v in manifest["status"].value_counts().items()}
    keys = ["point", "replication"]
    policies = manifest["policy"].nunique()
    ok = manifest[manifest["status"] == "SUCCEEDED"]
    per_pair = ok.groupby(keys)["policy"].nunique()
    pairs = len(manifest.drop_duplicates(keys))
    return StudyStatus(counts, pairs, int((per_pair == policies).sum()))


def complete_pairs(kpis: pd.DataFrame, *, group: str = "policy",
                   policies: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``kpis`` whose (point, replication) has a row of every policy.

    Parameters
    ----------
    kpis
        One row per succeeded run.
    group
        The column naming the policy.
    policies
        The study's policies (default: those in ``kpis``); a pair lacking any of them is
        dropped.
    """
    keys = [k for k in ("point", "replication") if k in kpis.columns]
    wanted = set(policies) if policies is not None else set(kpis[group])
    if not keys or kpis.empty:
        return kpis if set(kpis[group]) >= wanted else kpis.iloc[0:0]
    present = kpis[kpis[group].isin(wanted)]
    counts = present.groupby(keys)[group].nunique()
    full = counts[counts == len(wanted)].index
    mask = pd.MultiIndex.from_frame(present[keys]).isin(full)
    return present[mask]


# -- the verdict ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The harm-versus-speed reading of a compare study.

    Attributes
    ----------
    harm_kpi, speed_kpi
        The KPIs read as harm and as reaction time (None when absent).
    reference
        The policy others are compared with (``sudo`` when present).
    least_harm
        Policies with the lowest mean harm (ties: equal means or a paired CI containing 0).
    fewer_harm
        Policies whose paired harm difference to the reference is significantly negative.
    line
        The one-line verdict.
    """

    harm_kpi: str | None
    speed_kpi: str | None
    reference: str | None
    least_harm: tuple[str, ...]
    fewer_harm: tuple[str, ...]
    line: str


def _first_present(candidates: Sequence[str], kpis: pd.DataFrame) -> str | None:
    """The first candidate KPI with at least one finite value."""
    for name in candidates:
        if name in kpis.columns and np.isfinite(kpis[name].to_numpy(dtype=float)).any():
            return name
    return None


def _paired(kpis: pd.DataFrame, kpi: str, a: str, b: str, group: str) -> Any:
    """t interval of ``kpi[a] - kpi[b]`` over runs with the same point and replication."""
    keys = [k for k in ("point", "replication") if k in kpis.columns]
    left = kpis[kpis[group] == a].set_index(keys)[kpi]
    right = kpis[kpis[group] == b].set_index(keys)[kpi]
    both = pd.concat([left, right], axis=1, join="inner").to_numpy(dtype=float)
    return paired_diff_ci(both[:, 0], both[:, 1])


def _days(value: float) -> str:
    if not np.isfinite(value):
        return "never"
    return f"{value:.3g} d"


def _harm_column(kpis: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """Add a ``harm`` column (larger = worse) from the first available :data:`HARM_KPIS`."""
    for name, sign in HARM_KPIS:
        if name in kpis.columns and np.isfinite(kpis[name].to_numpy(dtype=float)).any():
            label = name if sign > 0 else f"loss = -{name}"
            return label, kpis.assign(harm=sign * kpis[name].astype(float))
    return None, kpis


def verdict(kpis: pd.DataFrame, *, group: str = "policy", reference: str = "sudo",
            policies: Sequence[str] | None = None) -> Verdict:
    """One line on harm versus reaction speed, from paired comparisons over the same seeds.

    Harm is the first KPI of :data:`HARM_KPIS` in the study (signed so larger = worse), reaction time the
    first of :data:`SPEED_KPIS` with a finite value (larger = slower; NaN or inf = never).
    Runs of different policies with the same design point and replication share their seeds
    (common random numbers), so each policy is compared with the reference by the t interval
    of the paired differences.

    Parameters
    ----------
    kpis
        One row per run (``store.table("kpis")``) with ``policy``, ``point`` and
        ``replication``.
    group
        The column naming the policy.
    reference
        The policy to compare with; the fastest-reacting one when absent.
    policies
        The study's policies (default: those in ``kpis``). Only (point, replication) pairs
        where every one of them has a row are used, so every policy rests on the same seeds;
        the line says how many pairs were left out.
    """
    wanted = list(dict.fromkeys(policies if policies is not None else kpis[group]))
    complete = complete_pairs(kpis, group=group, policies=wanted)
    keys = [k for k in ("point", "replication") if k in kpis.columns]
    n_pairs = len(kpis.drop_duplicates(keys)) if keys else 0
    n_complete = len(complete.drop_duplicates(keys)) if keys else 0
    if complete.empty and not kpis.empty:
        missing = [p for p in wanted if p not in set(kpis[group])]
        why = (f"{', '.join(missing)} has no succeeded run" if missing
               else "no seed has a succeeded run of every policy")
        return Verdict(None, None, None, (), (),
                       f"verdict: none: {why} (policies are compared on the same seeds only)")
    note = (f" [on the {n_complete} of {n_pairs} seeds every policy finished]"
            if n_complete < n_pairs else "")
    verdict_ = _verdict(complete, group=group, reference=reference)
    return Verdict(verdict_.harm_kpi, verdict_.speed_kpi, verdict_.reference,
                   verdict_.least_harm, verdict_.fewer_harm, verdict_.line + note)


def _verdict(kpis: pd.DataFrame, *, group: str, reference: str) -> Verdict:
    """The verdict on rows that all rest on the same (point, replication) pairs."""
    harm_label, kpis = _harm_column(kpis)
    harm = "harm" if harm_label is not None else None
    speed = _first_present(SPEED_KPIS, kpis)
    policies = list(dict.fromkeys(kpis[group]))
    if harm is None or not policies:
        looked = ", ".join(name for name, _ in HARM_KPIS)
        return Verdict(None, speed, None, (), (),
                       f"verdict: no harm KPI in this study (looked for {looked})")
    harm_mean = kpis.groupby(group, sort=False)[harm].mean()
    speed_mean = (kpis.groupby(group, sort=False)[speed].mean().astype(float)
                  .replace(np.nan, np.inf) if speed else None)
    if reference not in policies:
        reference = str(speed_mean.idxmin()) if speed_mean is not None else policies[0]
    best = str(harm_mean.idxmin())
    least = tuple(
        p for p in policies
        if p == best or harm_mean[p] == harm_mean[best]
        or (lambda ci: np.isfinite(ci.low) and ci.low <= 0.0 <= ci.high)(
            _paired(kpis, harm, p, best, group))
    )
    diffs = {p: _paired(kpis, harm, p, reference, group) for p in policies if p != reference}
    fewer = tuple(p for p, ci in diffs.items() if np.isfinite(ci.high) and ci.high < 0.0)
    parts = [f"{len(fewer)} of {len(policies) - 1} policies do significantly less harm than "
             f"{reference} (harm: {harm_label}; {reference} {harm_mean[reference]:.3g})"]
    if best != reference:
        ci = diffs[best]
        named = best if len(least) == 1 else f"{best} (tied: {', '.join(p for p in least if p != best)})"
        parts.append(f"least harm: {named} {harm_mean[best]:.3g}, {ci.mean:+.3g} "
                     f"[{ci.low:+.3g}, {ci.high:+.3g}] vs {reference} (paired, n={ci.n})")
    else:
        parts.append(f"least harm: {reference} itself")
    if speed_mean is not None:
        # The fastest of the policies that cut harm significantly (the least-harm ones first).
        pool = [p for p in least if p in fewer] or list(fewer)
        if not pool:
            parts.append(f"reaction ({speed}): {reference} {_days(speed_mean[reference])}; "
                         "no policy cuts harm significantly")
        else:
            quick = min(pool, key=lambda p: speed_mean[p])
            parts.append(f"reaction ({speed}): {reference} {_days(speed_mean[reference])}, "
                         f"{quick} {_days(speed_mean[quick])}")
            if speed_mean[quick] <= speed_mean[reference]:
                parts.append(f"{quick} cuts harm at no cost in reaction speed")
            else:
                parts.append(f"{quick} cuts harm but reacts "
                             f"{_days(speed_mean[quick] - speed_mean[reference])} slower")
    return Verdict(harm_label, speed, reference, least, fewer, "verdict: " + "; ".join(parts))


# -- plots ------------------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _time_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in _TIME_COLUMNS if c in frame.columns), None)


def _matching(columns: Sequence[str], pattern: str) -> list[str]:
    rx = re.compile(pattern, re.IGNORECASE)
    return [c for c in columns if rx.search(c)]


def _network_series(series: pd.DataFrame) -> pd.DataFrame:
    """One row per run and time: network-level columns repeat in every subnet's row."""
    if "netuid" in series.columns:
        return series[series["netuid"] == series["netuid"].min()]
    return series


def _most_affected_subnet(series: pd.DataFrame, value: str, time: str) -> int:
    """The subnet where policies differ most in mean ``value`` (over runs, at any time); with
    one policy (or no differences), the one whose mean path spans the widest range."""
    means = series.groupby(["netuid", "policy", time])[value].mean()
    between = means.groupby(level=["netuid", time]).agg(lambda v: float(v.max() - v.min()))
    by_subnet = between.groupby(level="netuid").max()
    if by_subnet.max() > 0:
        return int(by_subnet.idxmax())
    spans = means.groupby(level="netuid").agg(lambda v: float(v.max() - v.min()))
    return int(spans.idxmax())


def _band_plot(series: pd.DataFrame, value: str, time: str, title: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    groups = list(series.groupby("policy", sort=False))
    colors = plt.get_cmap("tab20" if len(groups) > 10 else "tab10")
    alpha = 0.15 if len(groups) <= 4 else 0.07
    for i, (policy, sub) in enumerate(groups):
        grouped = sub.groupby(time)[value]
        mean, lo, hi = grouped.mean(), grouped.quantile(0.05), grouped.quantile(0.95)
        color = colors(i % colors.N)
        ax.plot(mean.index, mean.to_numpy(), label=str(policy), lw=1.4, color=color)
        ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), alpha=alpha, color=color,
                        lw=0)
    ax.set_xlabel(time)
    ax.set_ylabel(value)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    return _png(fig)


def _box_plot(kpis: pd.DataFrame, columns: Sequence[str], title: str) -> str:
    import matplotlib.pyplot as plt

    policies = list(dict.fromkeys(kpis["policy"]))
    n = len(columns)
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 2.6 * nrows + 0.4),
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, col in zip(axes.ravel(), columns, strict=False):
        data = [kpis.loc[kpis["policy"] == p, col].dropna().to_numpy() for p in policies]
        ax.boxplot(data, tick_labels=policies, showfliers=True)
        ax.set_ylabel(col, fontsize=7)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def _ci_bars(summary: pd.DataFrame, columns: Sequence[str], title: str) -> str:
    import matplotlib.pyplot as plt

    n = len(columns)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, col in zip(axes.ravel(), columns, strict=False):
        sub = summary[summary["kpi"] == col]
        x = np.arange(len(sub))
        err = np.vstack([sub["mean"] - sub["low"], sub["high"] - sub["mean"]])
        ax.bar(x, sub["mean"], yerr=np.nan_to_num(err), capsize=3, color="#4c78a8")
        ax.set_xticks(x, sub["policy"], rotation=45, ha="right", fontsize=7)
        ax.set_title(col, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def _figures(store: StudyStore, kpis: pd.DataFrame, summary: pd.DataFrame) \
        -> list[tuple[str, str]]:
    """(caption, base64 PNG) for every plot the study's data supports."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    figures: list[tuple[str, str]] = []
    series = store.table("timeseries")
    time = _time_column(series) if not series.empty else None
    if time is not None:
        network = _network_series(series)
        if "tao_price_usd" in network.columns:
            figures.append(("TAO price (USD): mean and 5–95 % band across seeds, per policy",
                            _band_plot(network, "tao_price_usd", time, "TAO price (USD)")))
        if "netuid" in series.columns and series["netuid"].nunique() > 1:
            for col in ("emission_share", "alpha_price_usd"):
                if col not in series.columns:
                    continue
                subnet = _most_affected_subnet(series, col, time)
                sub = series[series["netuid"] == subnet]
                figures.append((f"{col} of subnet {subnet} (where policies differ most), mean and "
                                "5–95 % band across seeds, per policy",
                                _band_plot(sub, col, time, f"{col}, subnet {subnet}")))
    columns = list(dict.fromkeys(summary["kpi"])) if not summary.empty else []
    pnl = [c for c in _matching(columns, r"^pnl\.") if c.endswith(".mean")]
    if pnl:
        figures.append(("PnL per role (mean PnL of the role's accounts in a run, USD; TAO "
                        "holders: relative price change): distribution over seeds, per policy",
                        _box_plot(kpis, pnl[:6], "PnL per role")))
    decentral = _matching(columns, r"nakamoto|_nc_|hhi|gini|decentral")
    if decentral:
        figures.append(("Decentralisation metrics: mean and 95 % CI per policy",
                        _ci_bars(summary, decentral[:6], "Decentralisation")))
    share_kpis = _matching(columns, r"share")
    if share_kpis:
        figures.append(("Emission-share KPIs: mean and 95 % CI per policy",
                        _ci_bars(summary, share_kpis[:4], "Emission shares")))
    return figures


# -- the HTML report ------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.verdict{background:#eef6ee;border-left:4px solid #4a4;padding:.6em 1em}
.unfinished{background:#fdf1e4;border-left:4px solid #d80;padding:.6em 1em}
img{max-width:100%}figure{margin:1.2em 0}figcaption{font-size:12px;color:#555}
"""


def build_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` (self-contained: CSS and PNGs embedded) for a study directory.

    Parameters
    ----------
    root
        The study directory.
    out
        Output file; default ``<root>/report.html``.

    Returns
    -------
    Path
        The report's path.
    """
    store = StudyStore(root)
    sweep = store.sweep()
    manifest = store.manifest()
    status = study_status(manifest)
    kpis = store.table("kpis")
    policies = list(dict.fromkeys(manifest["policy"]))
    constant = constant_kpis(kpis) if not kpis.empty else {}
    if kpis.empty:
        summary = pd.DataFrame(columns=["policy", "kpi", "mean", "low", "high", "n"])
    else:
        present = set(kpis["policy"])
        summary = compare_summary(kpis.drop(columns=list(constant)),
                                  policies=[p for p in policies if p in present])
    figures = _figures(store, kpis, summary) if not kpis.empty else []
    counts = manifest["status"].value_counts().to_dict()
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>govsim study {esc(str(sweep.get('scenario', store.root.name)))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Study: {esc(str(sweep.get('scenario', store.root.name)))}</h1>",
        *([f"<p class='unfinished'><strong>{esc(status.header() or '')}</strong></p>"]
          if not status.finished else []),
        f"<p>{esc(str(sweep.get('description', '')))}</p>",
        "<p>",
        f"Runs: {len(manifest)} ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); ",
        f"policies: {esc(', '.join(policies))}; replications: {sweep.get('replications')}; ",
        f"root entropy: <code>{esc(str(sweep.get('entropy')))}</code>; ",
        f"code: <code>{esc(str(sweep.get('code_version')))}</code>; "
        f"created {esc(str(sweep.get('created')))}.</p>",
    ]
    if not summary.empty:
        parts.append(f"<p class='verdict'>{esc(verdict(kpis, policies=policies).line)}</p>")
        parts.append("<h2>KPIs per policy (mean ± half-width of the 95 % t interval)</h2>")
        parts.append(wide_table(summary).to_html(escape=True, na_rep="n/a"))
    if constant:
        parts.append("<p>The same in every run: "
                     + esc(", ".join(f"{k} = {v:.4g}" for k, v in constant.items())) + "</p>")
    for caption, png in figures:
        parts.append(f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{png}'>"
                     f"<figcaption>{esc(caption)}</figcaption></figure>")
    failed = manifest[manifest["status"] != "SUCCEEDED"]
    if not failed.empty:
        parts.append("<h2>Runs that did not succeed</h2>")
        parts.append(failed[["run_id", "policy", "status", "attempt", "error"]]
                     .to_html(index=False, escape=True, na_rep=""))
    parts.append("</body></html>")
    path = Path(out) if out is not None else store.root / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
