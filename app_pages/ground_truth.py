"""Ground truth and live: a small CPU training round scored by strategy, and a live coordinator."""

from __future__ import annotations

import altair as alt
import streamlit as st

from app_pages._shared import show_failure
from sim import explorer

st.title("Ground truth & live")
truth_tab, live_tab = st.tabs(["Ground-truth round (CPU)", "Live coordinator"])

with truth_tab:
    st.caption(
        "One Templar-style round on a tiny torch model: miners of each strategy train and "
        "compress pseudo-gradients, the validator scores them (Gauntlet-style) and turns "
        "scores into weights. Do honest miners come out on top?"
    )
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
        except Exception as exc:
            show_failure("The round failed", exc)
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
        "A live subnet's coordinator (`govsim live serve`) serves its status "
        "as JSON at `/v1/status`. Paste its URL to see the current window, the miners and "
        "their scores."
    )
    url = st.text_input(
        "Status URL",
        explorer.DEFAULT_STATUS_URL,
        key="live_url",
        placeholder="http://host:port/v1/status",
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
        metrics = explorer.live_metrics(status)
        for column, (label, value) in zip(st.columns(max(1, len(metrics))), metrics, strict=False):
            column.metric(label, value)
        if status.get("ticker_error"):
            st.warning(f"Coordinator reports: {status['ticker_error']}")
        scalars, tables = explorer.status_tables(status)
        miners = tables.pop("miners", None)
        if miners is not None and not miners.empty:
            st.markdown("**Miners**")
            if {"uid", "emission_tao"} <= set(miners.columns):
                st.altair_chart(
                    alt.Chart(miners.assign(uid=miners["uid"].astype(str)))
                    .mark_bar()
                    .encode(
                        x=alt.X("uid:N", title="uid"),
                        y=alt.Y("emission_tao:Q", title="emission (TAO)"),
                        tooltip=list(miners.columns),
                    )
                    .properties(height=200),
                    width="stretch",
                )
            st.dataframe(miners, width="stretch", key="live_miners")
        windows = explorer.live_windows(status)
        if not windows.empty:
            st.markdown("**Recent windows**")
            st.dataframe(windows, width="stretch", key="live_windows")
        network = explorer.live_network(status)
        if network is not None:
            st.markdown("**Simulated network around the live subnet**")
            for column, (label, value) in zip(
                st.columns(max(1, len(network.metrics))), network.metrics, strict=False
            ):
                column.metric(label, value)
            if not network.payments.empty:
                st.altair_chart(
                    alt.Chart(network.payments)
                    .mark_line(point=True)
                    .encode(
                        x=alt.X("window:Q", title="window"),
                        y=alt.Y("emission_tao:Q", title="TAO paid to the live subnet"),
                        tooltip=list(network.payments.columns),
                    )
                    .properties(height=200),
                    width="stretch",
                )
            if not network.events.empty:
                st.dataframe(network.events, width="stretch", key="live_network_events")
        with st.expander("Raw status"):
            st.json(status, expanded=False)
