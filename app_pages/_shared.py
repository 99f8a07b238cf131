"""Streamlit helpers shared by the explorer's pages: messages, cached runs, scenario picker, charts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from sim import explorer

__all__ = [
    "MARK_COLORS",
    "cached_run",
    "config_hash",
    "graph_chart",
    "mark_rules",
    "policy_color",
    "scenario_picker",
    "show_failure",
    "show_input_error",
    "subnet_color",
]


def show_input_error(context: str, exc: Exception) -> None:
    """Show a user-input problem as one clear message (never a traceback)."""
    st.error(f"{context}: {exc}", icon=":material/error:")


def show_failure(context: str, exc: BaseException) -> None:
    """Show an unexpected failure of a run as a message; the traceback stays folded away.

    Input problems are ``ValueError`` and get :func:`show_input_error`; anything else is a bug in
    a model or protocol module, reported with its type so it can be filed.
    """
    import traceback

    if isinstance(exc, ValueError):
        show_input_error(context, exc)
        return
    st.error(f"{context}: {type(exc).__name__}: {exc}", icon=":material/bug_report:")
    with st.expander("Details for a bug report"):
        st.code("".join(traceback.format_exception(exc)), language="text")


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_run(scenario_hash: str, policy: str, seed: int, _config: Any) -> explorer.RunTables:
    """``explorer.run_scenario``, cached by the config's hash (``_config`` is not hashed)."""
    return explorer.run_scenario(_config, policy=policy, seed=seed)


def cached_run(config: Any, policy: str, seed: int) -> explorer.RunTables:
    """Run (or fetch from the cache) one simulation; the key is the scenario hash, policy, seed."""
    return _cached_run(config_hash(config), policy, int(seed), config)


def config_hash(config: Any) -> str:
    """The cache key of a validated ``SimConfig``."""
    return explorer.stable_hash(config.model_dump(mode="json"))


DEFAULTS_LABEL = "(built-in defaults)"


def _load_choice(source: str, library_name: str, upload: Any) -> Any:
    """Load the scenario the sidebar points at; ``None`` if there is nothing to load yet."""
    if source == "Upload":
        if upload is None:
            return None
        return explorer.load_uploaded_scenario(upload.getvalue(), upload.name)
    if library_name == DEFAULTS_LABEL:
        from sim.schema import Scenario

        return Scenario.from_dict({"name": "defaults"}, source="<built-in defaults>")
    return explorer.load_library_scenario(library_name)


def scenario_picker() -> Any:
    """Sidebar widgets that choose a scenario; returns the loaded ``sim.schema.Scenario``.

    The loaded scenario is kept in ``st.session_state["scenario"]`` so the Compare page uses
    it too. When the choice changes, the parameter widgets are reset to the new scenario's
    values. Invalid uploads are reported in the page and ``None`` is returned.
    """
    library = list(explorer.library_scenarios())
    with st.sidebar:
        st.subheader("Scenario")
        source = st.radio("Source", ["Library", "Upload"], horizontal=True, key="scn_source")
        library_name = st.selectbox(
            "Library scenario",
            [*library, DEFAULTS_LABEL],
            key="scn_library",
            disabled=source != "Library",
        )
        upload = st.file_uploader(
            "Scenario file (TOML)", type=["toml"], key="scn_upload", disabled=source != "Upload"
        )
    choice = (source, library_name, upload.file_id if upload is not None else None)
    if st.session_state.get("scenario_choice") != choice or "scenario" not in st.session_state:
        try:
            scenario = _load_choice(source, library_name, upload)
        except ValueError as exc:
            show_input_error("This scenario is not valid", exc)
            return None
        if scenario is None:
            st.info("Upload a TOML scenario file in the sidebar (see `scenarios/` for examples).")
            return None
        st.session_state["scenario"] = scenario
        st.session_state["scenario_choice"] = choice
        values = {
            s.path: s.coerce(explorer.param_value(scenario.config, s.path))
            for s in explorer.MAIN_PARAMETERS
        }
        st.session_state["scn_values"] = values
        for spec in explorer.MAIN_PARAMETERS:
            st.session_state[spec.key] = values[spec.path]
    scenario = st.session_state["scenario"]
    if scenario.description:
        st.caption(f"**{scenario.name}**: {scenario.description}")
    return scenario


def graph_chart(graph: Any) -> Any:
    """An Altair drawing of a stake/weight graph from :func:`sim.explorer.stake_weight_graph`."""
    import altair as alt

    nodes, edges = explorer.graph_frames(graph)
    edge_layer = (
        alt.Chart(edges)
        .mark_rule(color="steelblue")
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            x2="x2:Q",
            y2="y2:Q",
            opacity=alt.Opacity("weight:Q", legend=None, scale=alt.Scale(range=[0.15, 0.9])),
            strokeWidth=alt.StrokeWidth("weight:Q", legend=None, scale=alt.Scale(range=[0.5, 5])),
            tooltip=["source", "target", alt.Tooltip("weight:Q", format=".3f")],
        )
    )
    # Validators are sized by stake, everyone else by votes received, each relative to its column.
    is_validator = nodes["role"] == "validator"
    raw = nodes["stake"].where(is_validator, nodes["received"])
    top = raw.groupby(is_validator).transform("max").replace(0.0, 1.0)
    nodes = nodes.assign(size=(raw / top).fillna(0.0))
    node_layer = (
        alt.Chart(nodes)
        .mark_circle(opacity=0.9, stroke="white")
        .encode(
            x="x:Q",
            y="y:Q",
            size=alt.Size("size:Q", legend=None, scale=alt.Scale(domain=[0, 1], range=[40, 900])),
            color=alt.Color(
                "role:N",
                scale=alt.Scale(
                    domain=["validator", "miner", "owner"], range=["#4c78a8", "#f58518", "#54a24b"]
                ),
            ),
            tooltip=[
                "node",
                "role",
                alt.Tooltip("stake:Q", format=",.1f"),
                alt.Tooltip("received:Q", format=".3f"),
            ],
        )
    )
    labels = alt.Chart(nodes).mark_text(dy=-14, fontSize=11).encode(x="x:Q", y="y:Q", text="node:N")
    return (edge_layer + node_layer + labels).properties(height=max(220, 28 * len(nodes) // 2))


def subnet_color(labels: Iterable[str], field: str = "netuid") -> Any:
    """An Altair colour encoding for subnets: legend in netuid order, one fixed colour per netuid."""
    import altair as alt

    domain, colours = explorer.subnet_scale(labels)
    return alt.Color(
        f"{field}:N",
        title=None,
        sort=domain,
        scale=alt.Scale(domain=domain, range=colours),
        # Every subnet listed (no "…" after a few): in two columns beyond ten.
        legend=alt.Legend(columns=1 if len(domain) <= 10 else 2, symbolLimit=0),
    )


def policy_color(policies: Iterable[str], field: str = "policy") -> Any:
    """An Altair colour encoding for policies: one fixed colour per registered policy.

    The Compare page's default policies take the first (strongest) colours, the rest follow
    in registry order.
    """
    import altair as alt

    registered = explorer.policy_names()
    first = explorer.default_policies(registered)
    order = [*first, *(p for p in registered if p not in first)]
    domain, colours = explorer.policy_scale(policies, order)
    return alt.Color(f"{field}:N", title=None, scale=alt.Scale(domain=domain, range=colours))


#: Colours of timeline marks by category (see ``explorer.timeline_marks``).
MARK_COLORS: dict[str, str] = {"governance": "crimson", "shock": "#333333", "other": "#9e9e9e"}


def mark_rules(marks: Any, time: str) -> Any:
    """Vertical rules for timeline marks: governance solid red, shocks dark dashed, others grey."""
    import altair as alt

    categories = [c for c in MARK_COLORS if c in set(marks["category"])]
    tooltip = ["label", "category", alt.Tooltip(f"{time}:Q", format=",.2f")]
    if "policy" in marks.columns:
        tooltip.insert(0, "policy")
    return (
        alt.Chart(marks)
        .mark_rule(strokeWidth=1.5)
        .encode(
            x=f"{time}:Q",
            color=alt.Color(
                "category:N",
                title="marks",
                scale=alt.Scale(domain=categories, range=[MARK_COLORS[c] for c in categories]),
            ),
            strokeDash=alt.StrokeDash(
                "category:N",
                legend=None,
                scale=alt.Scale(domain=list(MARK_COLORS), range=[[1, 0], [6, 3], [2, 3]]),
            ),
            tooltip=tooltip,
        )
    )
