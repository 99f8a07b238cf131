"""Ground truth and live: a small CPU training round scored by strategy, and a live coordinator."""

from __future__ import annotations

import altair as alt
import streamlit as st

from app_pages._shared import show_input_error, show_unavailable
from sim import explorer

st.title("Ground truth & live")
truth_tab, live_tab = st.tabs(["Ground-truth round (CPU)", "Live coordinator"])

with truth_tab:
    st.caption(
        "One Templar-style round on a tiny torch model: miners of each strategy train and "
        "compress pseudo-gradients, the validator scores them (Gauntlet-style) and turns "
        "scores into weights. Do honest miners come out on top?"
    )
    if not explorer.ground_truth_available():
        show_unavailable("The ground-truth round", "`protocol.training.run_round` (issue 7)")
    else:
        configs = explorer.ground_truth_configs()
        c1, c2, c3 = st.columns(3)
        config_name = c1.selectbox("Configuration", configs, key="gt_config")
        seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key="gt_seed")
        windows = c3.number_input("Windows", 1, 20, 2, key="gt_windows")
        if st.button("Run round", key="gt_run", type="primary"):
            try:
                with st.spinner(f"Training {config_name} for {windows} window(s)…"):
                    st.session_state["gt_scores"] = explorer.run_ground_truth(
                        config_name, seed=int(seed), windows=int(windows)
                    )
            except ValueError as exc:
                show_input_error("Cannot run this round", exc)
        scores = st.session_state.get("gt_scores")
        if scores is not None:
            by_strategy = explorer.scores_by_strategy(scores)
            st.session_state["gt_by_strategy"] = by_strategy
            best = by_strategy.iloc[0]
            m1, m2 = st.columns(2)
            m1.metric("Best strategy (mean weight)", str(best["strategy"]))
            m2.metric("Honest miners' weight share", f"{explorer.honest_share(scores):.1%}")
            st.altair_chart(
                alt.Chart(by_strategy)
                .mark_bar()
                .encode(
                    x=alt.X("mean_weight:Q", title="mean weight per miner"),
                    y=alt.Y("strategy:N", sort="-x"),
                    tooltip=list(by_strategy.columns),
                ),
                width="stretch",
            )
            st.dataframe(scores, width="stretch", key="gt_scores_table")

with live_tab:
    st.caption(
        "A live round's coordinator (`govsim live coordinator`) serves its status as JSON. "
        "Paste its URL to see the current window, miners and scores."
    )
    url = st.text_input(
        "Status URL",
        "http://127.0.0.1:8000/status",
        key="live_url",
        placeholder="http://host:port/status",
    )
    if st.button("Fetch status", key="live_fetch"):
        try:
            st.session_state["live_status"] = explorer.fetch_status(url)
            st.session_state["live_error"] = None
        except explorer.StatusUnavailableError as exc:
            st.session_state["live_status"] = None
            st.session_state["live_error"] = str(exc)
    if st.session_state.get("live_error"):
        st.error(
            f"Coordinator not reachable: {st.session_state['live_error']}",
            icon=":material/wifi_off:",
        )
    status = st.session_state.get("live_status")
    if status:
        scalars, tables = explorer.status_tables(status)
        numbers = {
            k: v
            for k, v in scalars.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        for column, (key, value) in zip(
            st.columns(max(1, min(4, len(numbers)))), list(numbers.items())[:4], strict=False
        ):
            column.metric(key, value)
        st.json(scalars, expanded=False)
        for name, table in tables.items():
            st.markdown(f"**{name}**")
            st.dataframe(table, width="stretch", key=f"live_table_{name}")
