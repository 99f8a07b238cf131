"""govsim's scenario explorer: ``streamlit run app.py`` (or ``govsim app``).

The entry script only sets the page up and routes to the pages in ``app_pages/``; data shaping
lives in :mod:`sim.explorer`, the simulation in :mod:`sim`.
"""

from __future__ import annotations

import streamlit as st

PAGES = [
    st.Page("app_pages/scenario.py", title="Scenario", icon=":material/science:", default=True),
    st.Page("app_pages/compare.py", title="Compare policies", icon=":material/compare_arrows:"),
    st.Page("app_pages/yuma_playground.py", title="Yuma playground", icon=":material/calculate:"),
    st.Page("app_pages/studies.py", title="Studies", icon=":material/folder_open:"),
    st.Page(
        "app_pages/ground_truth.py", title="Ground truth & live", icon=":material/satellite_alt:"
    ),
]

st.set_page_config(page_title="govsim explorer", page_icon="⚖️", layout="wide")
st.navigation(PAGES).run()
