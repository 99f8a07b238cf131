"""Scenario: pick or upload a scenario, edit its main parameters, run it and read the charts."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages._shared import (
    cached_run,
    scenario_picker,
    show_input_error,
    show_unavailable,
)
from sim import explorer

st.title("Scenario")
st.caption(
    "Pick a library scenario or upload a TOML file, adjust its main parameters, choose a "
    "governance policy and a seed, and run it. Governance events are marked on every timeline."
)

if not explorer.simulation_available():
    show_unavailable("Running scenarios", "the agent model's `sim.run` (issue 5)")
    st.stop()

scenario = scenario_picker()
if scenario is None:
    st.stop()

with st.sidebar:
    st.subheader("Main parameters")
    values = {}
    saved = st.session_state.get("scn_values", {})
    for spec in explorer.MAIN_PARAMETERS:
        if spec.key not in st.session_state:  # widget state is dropped while on other pages
            st.session_state[spec.key] = saved.get(
                spec.path, explorer.param_value(scenario.config, spec.path)
            )
        value = st.session_state[spec.key]
        lo, hi = min(spec.lo, value), max(spec.hi, value)
        if spec.is_int:
            values[spec.path] = st.number_input(
                spec.label, int(lo), int(hi), step=int(spec.step), key=spec.key
            )
        else:
            values[spec.path] = st.slider(
                spec.label, float(lo), float(hi), step=float(spec.step), key=spec.key
            )

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

if run_clicked:
    progress = st.progress(0.0, text=f"Simulating {config.horizon_days:g} days under {policy}…")
    try:
        st.session_state["scn_result"] = cached_run(config, policy, int(seed))
        st.session_state["scn_result_label"] = f"{scenario.name} · {policy} · seed {seed}"
    except ValueError as exc:
        show_input_error("The simulation rejected this scenario", exc)
    finally:
        progress.progress(1.0, text="Done")
        progress.empty()

result: explorer.RunTables | None = st.session_state.get("scn_result")
if result is None:
    st.info("Press **Run** to simulate this scenario.")
    st.stop()

st.subheader(st.session_state.get("scn_result_label", "Result"))
kpis = {
    k: v for k, v in result.kpis.items() if isinstance(v, int | float) and not isinstance(v, bool)
}
for column, (name, value) in zip(st.columns(4), list(kpis.items())[:4], strict=False):
    column.metric(name, f"{value:,.4g}")

series = result.timeseries
time = explorer.time_column(series)
network = explorer.network_frame(series)
marks = explorer.event_marks(result.events, time=time)
rules = (
    alt.Chart(marks)
    .mark_rule(color="crimson", strokeDash=[4, 3])
    .encode(x=f"{time}:Q", tooltip=["label"])
    if not marks.empty
    else None
)

for title, columns in explorer.chart_groups(explorer.numeric_columns(network)).items():
    st.markdown(f"**{title}**")
    lines = (
        alt.Chart(explorer.long_series(network, columns, time=time))
        .mark_line()
        .encode(
            x=alt.X(f"{time}:Q", title=time),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", title=None),
            tooltip=[time, "series", "value"],
        )
        .properties(height=220)
    )
    st.altair_chart(lines + rules if rules is not None else lines, width="stretch")

if "netuid" in series.columns:
    subnet_prices = [c for c in explorer.numeric_columns(series) if "price" in c and "tao" not in c]
    if subnet_prices:
        st.markdown("**Subnet prices**")
        per_subnet = series.dropna(subset=["netuid"]).assign(
            netuid=lambda d: d["netuid"].astype(int).astype(str)
        )
        chart = (
            alt.Chart(per_subnet)
            .mark_line()
            .encode(
                x=alt.X(f"{time}:Q"),
                y=alt.Y(f"{subnet_prices[0]}:Q"),
                color=alt.Color("netuid:N", title="subnet"),
            )
            .properties(height=220)
        )
        st.altair_chart(chart + rules if rules is not None else chart, width="stretch")

if not result.events.empty:
    with st.expander(f"Governance events ({len(result.events)})"):
        st.dataframe(result.events, width="stretch", key="scn_events_table")

with st.expander("All KPIs"):
    st.dataframe(
        pd.Series(result.kpis, name="value").to_frame(), width="stretch", key="scn_kpi_table"
    )
