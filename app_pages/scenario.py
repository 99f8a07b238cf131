"""Scenario: pick or upload a scenario, edit its main parameters, run it and read the charts."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages._shared import (
    cached_run,
    config_hash,
    graph_chart,
    mark_rules,
    scenario_picker,
    show_failure,
    show_input_error,
    subnet_color,
)
from sim import explorer

st.title("Scenario")
st.caption(
    "Pick a library scenario or upload a TOML file, adjust its main parameters, choose a "
    "governance policy and a seed, and run it. Every timeline marks the governance actions "
    "(executed in red, refused or rejected ones too) and the scenario's shocks (dashed)."
)

scenario = scenario_picker()
if scenario is None:
    st.stop()

with st.sidebar:
    st.subheader("Main parameters")
    values = {}
    saved = st.session_state.get("scn_values", {})
    for spec in explorer.MAIN_PARAMETERS:
        if spec.key not in st.session_state:  # widget state is dropped while on other pages
            st.session_state[spec.key] = spec.coerce(
                saved.get(spec.path, explorer.param_value(scenario.config, spec.path))
            )
        value = st.session_state[spec.key]
        lo, hi = spec.coerce(min(spec.lo, value)), spec.coerce(max(spec.hi, value))
        step = spec.coerce(spec.step)
        if spec.widget == "number":
            values[spec.path] = st.number_input(spec.label, lo, hi, step=step, key=spec.key)
        else:
            values[spec.path] = st.slider(spec.label, lo, hi, step=step, key=spec.key)

st.session_state["scn_values"] = values

policies = explorer.policy_names()
default_policy = scenario.config.governance.policy
c1, c2, c3 = st.columns([2, 1, 1])
policy = c1.selectbox(
    "Governance policy",
    policies,
    index=policies.index(default_policy) if default_policy in policies else 0,
    key="scn_policy",
)
seed = c2.number_input("Seed", 0, 2**31 - 1, int(scenario.config.seed), key="scn_seed")
c3.write("")
run_clicked = c3.button("Run", key="scn_run", type="primary", width="stretch")

try:
    config = explorer.scenario_config(scenario, policy, values)
except ValueError as exc:
    show_input_error("These parameters do not make a valid scenario", exc)
    st.stop()
st.session_state["scenario_config"] = config

run_key = (config_hash(config), policy, int(seed))
if run_clicked:
    try:
        with st.spinner(f"Simulating {config.horizon_days:g} days under {policy}…", show_time=True):
            st.session_state["scn_result"] = cached_run(config, policy, int(seed))
        st.session_state["scn_result_label"] = f"{scenario.name} · {policy} · seed {seed}"
        st.session_state["scn_result_key"] = run_key
    except Exception as exc:
        show_failure("The simulation failed", exc)

result: explorer.RunTables | None = st.session_state.get("scn_result")
if result is None:
    st.info("Press **Run** to simulate this scenario.")
    st.stop()

st.subheader(st.session_state.get("scn_result_label", "Result"))
if st.session_state.get("scn_result_key") != run_key:
    st.caption("The inputs changed since this run: press **Run** to update.")
headline = explorer.headline_kpis(result.kpis)
for column, (label, text) in zip(st.columns(len(headline) or 1), headline, strict=False):
    column.metric(label, text)

series = result.timeseries
time = explorer.time_column(series)
network = explorer.network_frame(series)
subnets = explorer.subnet_frame(series)
show_other = st.toggle(
    "Also mark other events (proposals, miner moves, owner exits…)",
    value=False,
    key="scn_other_events",
)
marks = explorer.timeline_marks(result.events, time=time, shocks=config.shocks, other=show_other)
st.session_state["scn_marks"] = marks


def timeline(
    frame: pd.DataFrame,
    y: str,
    title: str,
    *,
    color: str | None = None,
    log: bool = False,
    stacked: bool = False,
    integer: bool = False,
) -> alt.LayerChart | alt.Chart:
    """A line (or stacked area) chart over time with the timeline marks as rules.

    ``color="netuid"`` colours subnets with their fixed colours, in netuid order.
    """
    mark = alt.Chart(frame).mark_area(opacity=0.85) if stacked else alt.Chart(frame).mark_line()
    encoding = {
        "x": alt.X(f"{time}:Q", title=time),
        "y": alt.Y(
            f"{y}:Q",
            title=title,
            axis=alt.Axis(format="d", tickMinStep=1) if integer else alt.Axis(),
            stack="normalize" if stacked else None,
            scale=alt.Scale(type="log") if log else alt.Scale(zero=False),
        ),
        "tooltip": [time, alt.Tooltip(f"{y}:Q", format=",.4g")] + ([color] if color else []),
    }
    if color == "netuid":
        encoding["color"] = subnet_color(frame["netuid"])
        encoding["order"] = alt.Order("subnet_order:Q")
    elif color:
        encoding["color"] = alt.Color(f"{color}:N", title=None)
    chart = mark.encode(**encoding).properties(height=230)
    if marks.empty:
        return chart
    return alt.layer(chart, mark_rules(marks, time)).resolve_scale(color="independent")


def show(chart: alt.TopLevelMixin) -> None:
    """Draw an Altair chart at full width."""
    st.altair_chart(chart, width="stretch")


left, right = st.columns(2)
with left:
    if "tao_price_usd" in network:
        st.markdown("**TAO price (USD)**")
        show(timeline(network, "tao_price_usd", "USD"))
with right:
    if "governance_premium" in network:
        st.markdown("**Governance-risk premium**")
        show(timeline(network, "governance_premium", "premium"))

left, right = st.columns(2)
with left:
    if "alpha_price_tao" in subnets:
        st.markdown("**Subnet alpha prices (TAO, log scale)**")
        positive = subnets[subnets["alpha_price_tao"] > 0]
        show(timeline(positive, "alpha_price_tao", "TAO per alpha", color="netuid", log=True))
with right:
    if "emission_share" in subnets:
        st.markdown("**Emission shares**")
        show(timeline(subnets, "emission_share", "share", color="netuid", stacked=True))

income = [c for c in network.columns if c.startswith("income_")]
if income:
    st.markdown("**Income per role (TAO per record, all subnets)**")
    long = explorer.long_series(network, income, time=time)
    long["series"] = long["series"].str.removeprefix("income_").str.removesuffix("_tao")
    show(timeline(long, "value", "TAO", color="series"))

left, right = st.columns(2)
with left:
    if "emission_hhi" in network:
        st.markdown("**Emission concentration (HHI)**")
        show(timeline(network, "emission_hhi", "HHI"))
with right:
    if "emission_nakamoto_50" in network:
        st.markdown("**Nakamoto coefficient of emission (subnets for > 50 %)**")
        show(timeline(network, "emission_nakamoto_50", "subnets", integer=True))

snapshot = result.snapshot
if snapshot is not None:
    st.markdown("**Stake and weights at the end (validators → miners)**")
    n_subnets = snapshot.stake.shape[0]
    netuid = st.selectbox(
        "Subnet", list(range(n_subnets)), format_func=explorer.subnet_label, key="scn_graph_subnet"
    )
    labels = [
        f"uid{uid} {strategy}".strip() for uid, strategy in enumerate(snapshot.strategies[netuid])
    ]
    graph = explorer.stake_weight_graph(
        snapshot.stake[netuid],
        snapshot.weights[netuid],
        labels=labels,
        roles=snapshot.roles[netuid],
        max_miners=16,
    )
    st.session_state["scn_graph"] = graph
    show(graph_chart(graph))

if not result.events.empty:
    with st.expander(f"Event log ({len(result.events)} events)"):
        st.dataframe(result.events, width="stretch", key="scn_events_table")

with st.expander("All KPIs"):
    st.caption(
        "Grouped and named by the KPI catalogue; ↓ / ↑: lower / higher is better; % values are "
        "shares × 100."
    )
    st.dataframe(
        explorer.readable_run_kpis(result.kpis),
        width="stretch",
        hide_index=True,
        key="scn_kpi_table",
    )

d1, d2 = st.columns(2)
d1.download_button(
    "This run's time series (CSV)",
    result.timeseries.to_csv(index=False),
    "timeseries.csv",
    "text/csv",
    key="scn_download_csv",
)
d2.download_button(
    "The current configuration (JSON)",
    config.model_dump_json(indent=2),
    "config.json",
    "application/json",
    key="scn_download_config",
)
