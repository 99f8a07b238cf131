"""Yuma playground: edit a small subnet, step epochs, compare the float and chain-exact epochs."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages._shared import graph_chart, show_input_error
from sim import explorer

st.title("Yuma playground")
st.caption(
    "A toy subnet: edit stake and weights, then step Yuma Consensus epochs. Each epoch runs twice, "
    "in float mode and in the chain's exact fixed-point mode, carrying bonds from one epoch to "
    "the next. Row *i* of the weight table is what validator *i* sets on each uid."
)

PRESETS = explorer.PLAYGROUND_PRESETS


def reset_playground(preset: str) -> None:
    """Load a preset's tables and forget all epochs."""
    stake, weights = explorer.playground_preset(preset)
    st.session_state["yuma_base_stake"] = stake
    st.session_state["yuma_base_weights"] = weights
    st.session_state["yuma_history"] = []
    st.session_state["yuma_bonds"] = {}
    st.session_state["yuma_epoch"] = 0
    st.session_state["yuma_editor_version"] = st.session_state.get("yuma_editor_version", 0) + 1


if "yuma_base_stake" not in st.session_state:
    reset_playground(next(iter(PRESETS)))

with st.sidebar:
    st.subheader("Playground")
    preset = st.selectbox("Preset", list(PRESETS), format_func=PRESETS.get, key="yuma_preset")
    if st.button("Load preset / reset", key="yuma_reset", width="stretch"):
        reset_playground(preset)
    kappa = st.slider("κ (consensus majority)", 0.0, 1.0, 0.5, 0.01, key="yuma_kappa")
    bond_alpha = st.slider(
        "Bond EMA α (1 − BondsMovingAverage)", 0.01, 1.0, 0.1, 0.01, key="yuma_bond_alpha"
    )
    yuma3 = st.toggle("Yuma 3 bonds", value=True, key="yuma_yuma3")
    liquid_alpha = st.toggle("Liquid alpha", value=False, key="yuma_liquid_alpha")
    n_epochs = st.number_input("Epochs per run", 1, 200, 10, key="yuma_n_epochs")

version = st.session_state["yuma_editor_version"]
left, right = st.columns([1, 3])
with left:
    st.markdown("**Stake (TAO)**")
    stake_df = st.data_editor(
        st.session_state["yuma_base_stake"], key=f"yuma_stake_editor_{version}", width="stretch"
    )
with right:
    st.markdown("**Weights** (row = validator, column = uid it weights)")
    weights_df = st.data_editor(
        st.session_state["yuma_base_weights"], key=f"yuma_weights_editor_{version}", width="stretch"
    )

try:
    stake_tao, weights = explorer.validate_playground(stake_df, weights_df)
    params = explorer.playground_params(
        kappa=kappa, bond_alpha=bond_alpha, yuma3=yuma3, liquid_alpha=liquid_alpha
    )
except ValueError as exc:
    show_input_error("Cannot run this playground", exc)
    st.stop()

with st.expander("Who weights whom (stake on validators, vote share on miners)"):
    st.altair_chart(graph_chart(explorer.stake_weight_graph(stake_tao, weights)), width="stretch")

step_col, run_col, _ = st.columns([1, 1, 3])
steps = 0
if step_col.button("Step 1 epoch", key="yuma_step", type="primary", width="stretch"):
    steps = 1
if run_col.button(f"Run {n_epochs} epochs", key="yuma_run", width="stretch"):
    steps = int(n_epochs)

if steps:
    try:
        for _ in range(steps):
            epoch = st.session_state["yuma_epoch"]
            rows, bonds = explorer.playground_epoch(
                stake_tao, weights, st.session_state["yuma_bonds"], epoch=epoch, params=params
            )
            st.session_state["yuma_bonds"] = bonds
            st.session_state["yuma_history"].append(rows)
            st.session_state["yuma_epoch"] = epoch + 1
    except ValueError as exc:
        show_input_error("The epoch rejected this input", exc)

history: list[pd.DataFrame] = st.session_state["yuma_history"]
if not history:
    st.info("Press **Step 1 epoch** to run Yuma Consensus on this subnet.")
    st.stop()

table = pd.concat(history, ignore_index=True)
st.session_state["yuma_table"] = table
last = table[table["epoch"] == table["epoch"].max()]
gaps = explorer.mode_gaps(last)

m1, m2, m3, m4 = st.columns(4)
m1.metric("Epochs run", int(st.session_state["yuma_epoch"]))
top_validator = last[last["mode"] == "exact"].sort_values("dividends", ascending=False).iloc[0]
m2.metric(f"Top dividends (uid {int(top_validator['uid'])})", f"{top_validator['dividends']:.4f}")
top_miner = last[last["mode"] == "exact"].sort_values("incentive", ascending=False).iloc[0]
m3.metric(f"Top incentive (uid {int(top_miner['uid'])})", f"{top_miner['incentive']:.4f}")
m4.metric("max |float − exact|", f"{gaps.max():.2e}")

st.subheader(f"Epoch {int(last['epoch'].iloc[0])}")
st.dataframe(explorer.playground_wide(last), width="stretch", key="yuma_last_table")

metric = st.segmented_control(
    "Over time",
    ["dividends", "incentive", "consensus", "validator_trust"],
    default="dividends",
    key="yuma_metric",
)
chart_data = table[table["mode"] == "exact"].assign(uid=lambda d: d["uid"].astype(str))
st.altair_chart(
    alt.Chart(chart_data)
    .mark_line(point=True)
    .encode(
        x=alt.X("epoch:Q", title="epoch"),
        y=alt.Y(f"{metric or 'dividends'}:Q"),
        color=alt.Color("uid:N", sort=sorted(chart_data["uid"].unique(), key=int)),
        tooltip=["epoch", "uid", metric or "dividends"],
    )
    .properties(height=260),
    width="stretch",
)

st.subheader("Bonds after this epoch (exact mode)")
bonds_long = explorer.bonds_frame(
    st.session_state["yuma_bonds"].get("exact", {}).get("bonds_u16", [])
)
if bonds_long.empty:
    st.caption("No bonds yet.")
else:
    st.altair_chart(
        alt.Chart(bonds_long)
        .mark_rect()
        .encode(
            x=alt.X("miner:O", title="uid (bonded to)"),
            y=alt.Y("validator:O", title="validator uid"),
            color=alt.Color("bond:Q", scale=alt.Scale(scheme="blues")),
            tooltip=["validator", "miner", "bond"],
        )
        .properties(height=220),
        width="stretch",
    )
