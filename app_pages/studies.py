"""Studies: open a study directory written by the CLI and browse its report and tables."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import streamlit as st

from app_pages._shared import policy_color, show_failure, show_input_error
from sim import explorer
from sim.report import build_report
from sim.store import StoreError, StudyStore

st.title("Studies")
st.caption(
    "Open a study written by `govsim compare ... --out DIR` (or any sweep): its report, the "
    "manifest of runs, KPIs by policy with confidence intervals, and time series across seeds."
)

SEARCH_ROOTS = explorer.STUDY_SEARCH_ROOTS
found = explorer.find_studies([Path.cwd() / r for r in SEARCH_ROOTS])
comparison = st.session_state.get("cmp_job")  # the Compare page's latest study, once finished
if comparison is not None and comparison.finished:
    found += explorer.find_studies([comparison.root])
options = [
    str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p) for p in found
]

with st.sidebar:
    st.subheader("Study")
    picked = st.selectbox(
        "Studies found here", options or ["(none found)"], key="studies_pick",
        help=f"Directories with sweep.json under {', '.join(SEARCH_ROOTS)}/",
    )  # fmt: skip
    typed = st.text_input(
        "…or a study directory", value="", key="studies_dir", placeholder="studies/covenant"
    )

study_dir = typed.strip() or (picked if options else "")
if not study_dir:
    st.info(
        "No study found under " + ", ".join(f"`{r}/`" for r in SEARCH_ROOTS) + ". "
        "Write one with `govsim compare SCENARIO --out studies/NAME`, or type a directory."
    )
    st.stop()

store = StudyStore(study_dir)
try:
    sweep = store.sweep()
    manifest = store.manifest()
except (StoreError, OSError, ValueError) as exc:
    show_input_error(f"Cannot open {study_dir!r}", exc)
    st.stop()

st.session_state["studies_loaded"] = str(store.root)
status_counts = manifest["status"].value_counts()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Runs", len(manifest))
c2.metric("Succeeded", int(status_counts.get("SUCCEEDED", 0)))
c3.metric("Failed", int(status_counts.get("FAILED", 0)))
c4.metric("Policies", manifest["policy"].nunique() if "policy" in manifest else 0)

report_tab, kpi_tab, series_tab, runs_tab, sql_tab = st.tabs(
    ["Report", "KPIs", "Time series", "Runs", "SQL"]
)

with report_tab:
    reports = sorted(p for p in store.root.glob("report*") if p.suffix in {".md", ".html"})
    if not reports:
        st.info("This study has no report file yet.")
        if st.button("Write its report (as `govsim report DIR` does)", key="studies_report"):
            try:
                with st.spinner("Writing report.html…"):
                    build_report(store.root)
            except Exception as exc:
                show_failure("The report failed", exc)
            else:
                st.rerun()
    for path in reports:
        st.markdown(f"**{path.name}**")
        if path.suffix == ".md":
            st.markdown(path.read_text(), unsafe_allow_html=False)
        else:
            st.html(path.read_text())
    figures = sorted(store.root.glob("*.png")) + sorted(store.root.glob("figures/*.png"))
    for figure in figures:
        st.image(str(figure), caption=figure.name)
    with st.expander("sweep.json"):
        st.json(sweep)

with kpi_tab:
    try:
        kpis = store.table("kpis")
    except (StoreError, OSError, ValueError) as exc:
        show_input_error("Cannot read the KPI table", exc)
        kpis = None
    if kpis is None or kpis.empty:
        st.info("No KPI rows yet (no run has succeeded).")
    else:
        summary = explorer.kpi_summary(kpis, group="policy")
        st.session_state["studies_kpi_summary"] = summary
        st.dataframe(
            explorer.readable_kpi_table(summary),
            width="stretch",
            hide_index=True,
            key="studies_kpi_table",
        )
        st.download_button(
            "Download KPIs (CSV)", kpis.to_csv(index=False), "kpis.csv", "text/csv",
            key="studies_download_kpis",
        )  # fmt: skip

with series_tab:
    timeseries = store.table("timeseries")
    if timeseries.empty:
        st.info("No time series rows yet.")
    elif (shaped := explorer.study_network_series(timeseries)) is None:
        st.warning(f"The time series has no time column (expected one of {explorer.TIME_COLUMNS}).")
    else:
        time, network = shaped
        columns = explorer.numeric_columns(network, exclude=("policy",))
        preferred = columns.index("tao_price_usd") if "tao_price_usd" in columns else 0
        metric = st.selectbox(
            "Metric (network-wide)", columns, index=preferred, key="studies_metric"
        )
        bands = explorer.band_frame(network, metric, group="policy", time=time)
        base = alt.Chart(bands).encode(
            x=alt.X(f"{time}:Q", title=time), color=policy_color(bands["policy"])
        )
        st.altair_chart(
            base.mark_area(opacity=0.2).encode(y="lo:Q", y2="hi:Q")
            + base.mark_line().encode(y=alt.Y("mean:Q", title=metric)),
            width="stretch",
        )

with runs_tab:
    st.dataframe(manifest.drop(columns=["traceback"], errors="ignore"), key="studies_manifest")
    st.dataframe(store.scenarios(), key="studies_scenarios")

with sql_tab:
    sql = st.text_area(
        "DuckDB SQL over views manifest, scenarios, runs, timeseries, kpis, events",
        "SELECT policy, count(*) AS runs FROM runs GROUP BY policy ORDER BY policy",
        key="studies_sql",
    )
    if st.button("Run query", key="studies_run_sql"):
        try:
            st.dataframe(store.query(sql), key="studies_sql_result")
        except Exception as exc:  # DuckDB raises many types; all are input errors here
            show_input_error("Query failed", exc)
