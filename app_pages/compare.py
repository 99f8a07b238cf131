"""Compare: governance policies side by side on the same shocks and seeds, with bands and KPIs."""

from __future__ import annotations

import altair as alt
import streamlit as st

from app_pages._shared import cached_run, show_failure, show_input_error, show_unavailable
from sim import explorer

st.title("Compare policies")
st.caption(
    "Every policy faces the same scenario, the same shocks and the same seeds (common random "
    "numbers), so differences come from governance, not luck. Bands cover the middle 90 % "
    "of seeds; KPIs show the mean and its 95 % confidence interval."
)

if not explorer.simulation_available():
    show_unavailable("Comparing policies", "the agent model's `sim.run` (issue 5)")
    st.stop()

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
default = explorer.default_policies(policies, preferred)
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
chosen = c1.multiselect("Policies", policies, default=default, key="cmp_policies")
n_seeds = c2.number_input(
    "Seeds", 1, 64, min(4, scenario.seeds if scenario else 4), key="cmp_seeds"
)
root_seed = c3.number_input("Root seed", 0, 2**31 - 1, 0, key="cmp_root_seed")
c4.write("")
run_clicked = c4.button("Compare", key="cmp_run", type="primary", width="stretch")

if run_clicked:
    if not chosen:
        st.error("Choose at least one policy to compare.", icon=":material/error:")
    else:
        seeds = explorer.replicate_seeds(int(root_seed), int(n_seeds))
        jobs = [(p, r, s) for p in chosen for r, s in enumerate(seeds)]
        bar = st.progress(0.0, text=f"0 / {len(jobs)} runs")
        runs = []
        try:
            for done, (policy, replication, seed) in enumerate(jobs, start=1):
                policy_config = config.with_updates(governance__policy=policy)
                runs.append((policy, replication, seed, cached_run(policy_config, policy, seed)))
                bar.progress(
                    done / len(jobs), text=f"{done} / {len(jobs)} runs ({policy}, seed {seed})"
                )
            st.session_state["cmp_results"] = explorer.stack_runs(runs)
        except Exception as exc:
            show_failure("A run failed", exc)
        finally:
            bar.empty()

results: explorer.StackedRuns | None = st.session_state.get("cmp_results")
if results is None:
    st.info("Choose policies and press **Compare**.")
    st.stop()

varying, constant = explorer.split_constant_kpis(results.kpis.drop(columns=["replication", "seed"]))
kpi_summary = explorer.kpi_summary(varying, group="policy")
st.session_state["cmp_kpi_summary"] = kpi_summary
st.subheader("KPIs (mean [95 % CI] over seeds)")
st.dataframe(explorer.kpi_table(kpi_summary), width="stretch", key="cmp_kpi_table")
if constant:
    st.caption("The same in every run: " + ", ".join(f"{k} = {v:.4g}" for k, v in constant.items()))

network = explorer.network_frame_by_run(results.timeseries)
time = explorer.time_column(network)
columns = explorer.numeric_columns(network, exclude=("policy",))
if columns:
    metric = st.selectbox("Time series", columns, key="cmp_metric")
    bands = explorer.band_frame(network, metric, group="policy", time=time, level=0.9)
    base = alt.Chart(bands).encode(x=alt.X(f"{time}:Q", title=time), color=alt.Color("policy:N"))
    chart = base.mark_area(opacity=0.18).encode(y="lo:Q", y2="hi:Q") + base.mark_line().encode(
        y=alt.Y("mean:Q", title=metric), tooltip=["policy", time, "mean", "lo", "hi"]
    )
    marks = explorer.event_marks(results.events, time=time)
    if not marks.empty:
        marks = marks.drop_duplicates(subset=[time, "label"])
        chart = chart + alt.Chart(marks).mark_rule(color="gray", strokeDash=[4, 3]).encode(
            x=f"{time}:Q", tooltip=["label"]
        )
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
