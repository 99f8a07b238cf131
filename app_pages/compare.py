"""Compare: governance policies side by side on the same shocks and seeds, with the verdict."""

from __future__ import annotations

import os

import altair as alt
import streamlit as st

from app_pages._shared import mark_rules, policy_color, show_failure, show_input_error
from sim import explorer

st.title("Compare policies")
st.caption(
    "Every policy faces the same scenario, the same shocks and the same seeds (common random "
    "numbers), so differences come from governance, not luck. The runs go to a pool of worker "
    "processes (the same study runner as `govsim compare`); bands cover the middle 90 % of "
    "seeds and KPIs show the mean and its 95 % confidence interval."
)

config = st.session_state.get("scenario_config")
scenario = st.session_state.get("scenario")
if config is None:
    try:
        library = explorer.library_scenarios()
        if library:
            scenario = explorer.load_library_scenario(next(iter(library)))
            config = scenario.config
    except ValueError as exc:
        show_input_error("The default scenario is not valid", exc)
        st.stop()
if config is None:
    st.info("Open the **Scenario** page first to choose a scenario.")
    st.stop()
st.markdown(
    f"Scenario **{config.name}** ({config.horizon_days:g} days, {config.network.n_subnets} subnets, "
    f"{len(config.shocks)} shocks) — change it on the Scenario page."
)

policies = explorer.policy_names()
preferred = scenario.policy_names() if scenario is not None and scenario.policies else []
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
chosen = c1.multiselect(
    "Policies",
    policies,
    default=explorer.default_policies(policies, preferred),
    key="cmp_policies",
    help="Every registered policy can be chosen; the comparison is against sudo when it is chosen.",
)
n_seeds = c2.number_input("Seeds", 1, 64, explorer.DEFAULT_COMPARE_SEEDS, key="cmp_seeds")
root_seed = c3.number_input("Root seed", 0, 2**31 - 1, 0, key="cmp_root_seed")
c4.write("")
run_clicked = c4.button("Compare", key="cmp_run", type="primary", width="stretch")
n_runs = len(chosen) * int(n_seeds)
workers = max(1, min(os.cpu_count() or 1, n_runs))
st.caption(f"{len(chosen)} policies × {int(n_seeds)} seeds = {n_runs} runs on {workers} workers.")

if run_clicked:
    if not chosen:
        st.error("Choose at least one policy to compare.", icon=":material/error:")
    else:
        previous = st.session_state.pop("cmp_job", None)
        if previous is not None:
            previous.discard()
        for key in ("cmp_results", "cmp_outcome", "cmp_failures"):
            st.session_state.pop(key, None)
        try:
            st.session_state["cmp_job"] = explorer.Comparison(
                config, chosen, seeds=int(n_seeds), entropy=int(root_seed), workers=workers
            ).start()
            st.session_state["cmp_config"] = config
        except ValueError as exc:
            show_input_error("Cannot start this comparison", exc)


@st.fragment(run_every=0.5)
def progress_panel(job: explorer.Comparison) -> None:
    """Progress of the running comparison, with a cancel button; reruns the page when it ends."""
    state = job.progress()
    st.progress(state.fraction, text=f"Running: {state.line()}")
    if state.finished:
        st.rerun()
    if state.cancelled:
        st.caption("Cancelling: the runs already started finish, the others are dropped.")
    elif st.button("Cancel", key="cmp_cancel", icon=":material/cancel:"):
        job.cancel()


job: explorer.Comparison | None = st.session_state.get("cmp_job")
if job is not None and "cmp_outcome" not in st.session_state:
    if not job.finished:
        progress_panel(job)
        st.stop()
    st.session_state["cmp_outcome"] = job.progress()
    try:
        st.session_state["cmp_results"] = job.results()
        st.session_state["cmp_failures"] = job.failures()
    except Exception as exc:
        show_failure("The comparison failed", exc)

outcome: explorer.ComparisonProgress | None = st.session_state.get("cmp_outcome")
failures = st.session_state.get("cmp_failures")
if outcome is not None and outcome.cancelled:
    st.warning(f"Cancelled after {outcome.line()}: the results below cover those runs only.")
if failures is not None and not failures.empty:
    st.error(
        f"{len(failures)} run(s) did not finish; the first: {failures.loc[0, 'error']}",
        icon=":material/error:",
    )
    st.dataframe(failures, width="stretch", key="cmp_failures_table")

results: explorer.StackedRuns | None = st.session_state.get("cmp_results")
if results is None or results.kpis.empty:
    if results is not None:
        st.info("No run finished, so there is nothing to compare.")
    else:
        st.info("Choose policies and press **Compare**.")
    st.stop()
if job is not None:
    st.caption(
        f"Stored as a study in `{job.root}` (until the next comparison or the end of "
        "the explorer): "
        f"`govsim report {job.root}` writes its HTML report."
    )


def show_frontier(view: explorer.FrontierView) -> None:
    """Harm against measured days to act, one point per policy with both intervals; the
    Pareto set and the designs that cannot act marked, and the frontier's verdict."""
    st.subheader("Frontier: harm against reaction speed")
    with st.container(key="cmp_frontier_verdict", border=True):
        st.markdown("\n".join(f"- {line}" for line in view.lines))
    st.caption(
        "Can act is judged from these runs here (a design can act when it executed a warranted "
        "proposal); `govsim compare` judges it by each policy's conformance check instead. "
        "Designs that cannot act are never ranked."
    )
    data = view.chart
    shapes = alt.Scale(
        domain=["Pareto-efficient", "dominated", "cannot act (judged from the runs)"],
        range=["diamond", "circle", "cross"],
    )
    base = alt.Chart(data).encode(color=policy_color(data["policy"]))
    x_title = "days to act (detection to execution, mean and 95 % CI; lower is faster)"
    y_title = "harm.total (USD, mean and 95 % CI; lower is better)"
    chart = (
        base.mark_rule().encode(
            x=alt.X("days_lo:Q", title=x_title), x2="days_hi:Q", y=alt.Y("harm:Q", title=y_title)
        )
        + base.mark_rule().encode(x="days_to_act:Q", y="harm_lo:Q", y2="harm_hi:Q")
        + base.mark_point(size=140, filled=True).encode(
            x="days_to_act:Q",
            y="harm:Q",
            shape=alt.Shape("status:N", scale=shapes, title="design"),
            tooltip=[
                "policy",
                "status",
                alt.Tooltip("harm:Q", format=".4g"),
                alt.Tooltip("days_to_act:Q", format=".3g"),
            ],
        )
    )
    st.altair_chart(chart.properties(height=360), width="stretch")


def show_answer(results: explorer.StackedRuns) -> None:
    """The comparison's answer: the frontier, the verdict and the harm by policy it rests on.

    The only place the page draws its conclusion.
    """
    view = explorer.comparison_frontier(results.kpis)
    st.session_state["cmp_frontier"] = view
    cannot = view.result.cannot_act if view is not None else ()
    verdict = explorer.comparison_verdict(results.kpis, cannot_act=cannot)
    st.session_state["cmp_verdict"] = verdict
    st.subheader("Verdict")
    with st.container(key="cmp_verdict", border=True):
        st.markdown("\n".join(f"- {clause}" for clause in explorer.verdict_lines(verdict.line)))
    if view is not None:
        show_frontier(view)
    harm = explorer.harm_by_policy(results.kpis, verdict.harm_kpi)
    if harm.empty:
        return
    base = alt.Chart(harm).encode(
        y=alt.Y("policy:N", sort=list(harm["policy"]), title=None),
        color=policy_color(harm["policy"]),
        tooltip=["policy", alt.Tooltip("harm:Q", format=".4g"), "ci_lo", "ci_hi", "n"],
    )
    title = f"harm: {verdict.harm_kpi} (mean and 95 % CI over seeds; larger = worse)"
    chart = base.mark_rule(strokeWidth=2).encode(x="ci_lo:Q", x2="ci_hi:Q") + base.mark_point(
        filled=True, size=110
    ).encode(x=alt.X("harm:Q", title=title))
    st.altair_chart(chart.properties(height=60 + 40 * len(harm)), width="stretch")


show_answer(results)

varying, constant = explorer.split_constant_kpis(
    results.kpis.drop(columns=["point", "replication", "seed"], errors="ignore")
)
kpi_summary = explorer.kpi_summary(varying, group="policy")
st.session_state["cmp_kpi_summary"] = kpi_summary
st.subheader("KPIs (mean [95 % CI] over seeds)")
st.caption(
    "Grouped and named by the KPI catalogue; ↓ / ↑ after the unit: lower / higher is better; "
    "% values are shares × 100; `runs (n)`: the runs each policy's cells rest on (`n=k`: a "
    "cell resting on fewer)."
)
st.dataframe(
    explorer.readable_kpi_table(kpi_summary),
    width="stretch",
    hide_index=True,
    key="cmp_kpi_table",
)
if constant:
    st.caption(explorer.readable_constants(constant).capitalize())

network = explorer.network_frame_by_run(results.timeseries.drop(columns=["point"], errors="ignore"))
time = explorer.time_column(network)
columns = explorer.numeric_columns(network, exclude=("policy",))
if columns:
    st.subheader("Over time")
    m1, m2 = st.columns([2, 3])
    metric = m1.selectbox(
        "Time series",
        columns,
        index=columns.index("tao_price_usd") if "tao_price_usd" in columns else 0,
        key="cmp_metric",
    )
    show_other = m2.toggle(
        "Also mark other events (proposals, miner moves…)", value=False, key="cmp_other_events"
    )
    bands = explorer.band_frame(network, metric, group="policy", time=time, level=0.9)
    base = alt.Chart(bands).encode(
        x=alt.X(f"{time}:Q", title=time), color=policy_color(bands["policy"])
    )
    chart = base.mark_area(opacity=0.12).encode(y="lo:Q", y2="hi:Q") + base.mark_line(
        strokeWidth=2.5
    ).encode(y=alt.Y("mean:Q", title=metric), tooltip=["policy", time, "mean", "lo", "hi"])
    marks = explorer.timeline_marks(
        results.events,
        time=time,
        shocks=st.session_state.get("cmp_config", config).shocks,
        other=show_other,
    )
    st.session_state["cmp_marks"] = marks
    if not marks.empty:
        chart = alt.layer(chart, mark_rules(marks, time)).resolve_scale(color="independent")
    st.altair_chart(chart.properties(height=320), width="stretch")

st.subheader("Download")
d1, d2, d3 = st.columns(3)
d1.download_button(
    "KPIs (CSV)", results.kpis.to_csv(index=False), "kpis.csv", "text/csv", key="cmp_download_kpis"
)
d2.download_button(
    "Time series (CSV)",
    results.timeseries.to_csv(index=False),
    "timeseries.csv",
    "text/csv",
    key="cmp_download_csv",
)
d3.download_button(
    "Time series (Parquet)",
    explorer.to_parquet_bytes(results.timeseries),
    "timeseries.parquet",
    "application/vnd.apache.parquet",
    key="cmp_download_parquet",
)
