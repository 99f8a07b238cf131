"""The explorer's data layer: what the Streamlit pages (``app.py``, ``app_pages/``) show, without Streamlit.

The pages only lay widgets and charts out; everything that shapes data lives here, in one
module per page and a shared one, each testable without a browser:

========================  =====================================================================
module                    page
========================  =====================================================================
:mod:`.scenario`          Scenario: library scenarios and uploads, main parameters, one run
:mod:`.compare`           Compare policies: a study on the study runner (progress, cancel),
                          read back from its directory, and the verdict
:mod:`.yuma`              Yuma playground: a toy subnet in the chain's state format
:mod:`.studies`           Studies: study directories and their stored time series
:mod:`.ground_truth`      Ground truth & live: a CPU training round, a coordinator's status
``_tables``               shared: time columns, bands across seeds, KPI intervals, network and
                          per-subnet views, subnet colours, timeline marks
``_graph``                shared: the stake/weight graph (Scenario and Yuma pages)
========================  =====================================================================

Names below are the ones the pages use; the modules hold a few more for their tests. Input
checks raise ``ValueError`` with a message naming the field, the value and what was expected.
"""

from __future__ import annotations

from ._graph import graph_frames, stake_weight_graph
from ._tables import (
    TIME_COLUMNS,
    band_frame,
    kpi_summary,
    long_series,
    network_frame,
    network_frame_by_run,
    numeric_columns,
    policy_scale,
    readable_constants,
    readable_kpi_table,
    readable_run_kpis,
    split_constant_kpis,
    stable_hash,
    subnet_frame,
    subnet_label,
    subnet_scale,
    time_column,
    timeline_marks,
    to_parquet_bytes,
)
from .compare import (
    DEFAULT_COMPARE_SEEDS,
    Comparison,
    ComparisonProgress,
    FrontierView,
    StackedRuns,
    comparison_frontier,
    comparison_verdict,
    default_policies,
    harm_by_policy,
    verdict_lines,
)
from .ground_truth import (
    DEFAULT_STATUS_URL,
    StatusUnavailableError,
    fetch_status,
    ground_truth_configs,
    honest_share,
    live_metrics,
    live_network,
    live_windows,
    run_ground_truth,
    scores_by_strategy,
    status_tables,
)
from .scenario import (
    MAIN_PARAMETERS,
    RunTables,
    headline_kpis,
    library_scenarios,
    load_library_scenario,
    load_uploaded_scenario,
    param_value,
    policy_names,
    run_scenario,
    scenario_config,
)
from .studies import STUDY_SEARCH_ROOTS, find_studies, study_network_series
from .yuma import (
    PLAYGROUND_PRESETS,
    bonds_frame,
    mode_gaps,
    playground_epoch,
    playground_params,
    playground_preset,
    playground_wide,
    validate_playground,
)

__all__ = [
    "DEFAULT_COMPARE_SEEDS",
    "DEFAULT_STATUS_URL",
    "MAIN_PARAMETERS",
    "PLAYGROUND_PRESETS",
    "STUDY_SEARCH_ROOTS",
    "TIME_COLUMNS",
    "Comparison",
    "ComparisonProgress",
    "FrontierView",
    "RunTables",
    "StackedRuns",
    "StatusUnavailableError",
    "band_frame",
    "bonds_frame",
    "comparison_frontier",
    "comparison_verdict",
    "default_policies",
    "fetch_status",
    "find_studies",
    "graph_frames",
    "ground_truth_configs",
    "harm_by_policy",
    "headline_kpis",
    "honest_share",
    "kpi_summary",
    "library_scenarios",
    "live_metrics",
    "live_network",
    "live_windows",
    "load_library_scenario",
    "load_uploaded_scenario",
    "long_series",
    "mode_gaps",
    "network_frame",
    "network_frame_by_run",
    "numeric_columns",
    "param_value",
    "playground_epoch",
    "playground_params",
    "playground_preset",
    "playground_wide",
    "policy_names",
    "policy_scale",
    "readable_constants",
    "readable_kpi_table",
    "readable_run_kpis",
    "run_ground_truth",
    "run_scenario",
    "scenario_config",
    "scores_by_strategy",
    "split_constant_kpis",
    "stable_hash",
    "stake_weight_graph",
    "status_tables",
    "study_network_series",
    "subnet_frame",
    "subnet_label",
    "subnet_scale",
    "time_column",
    "timeline_marks",
    "to_parquet_bytes",
    "validate_playground",
    "verdict_lines",
]
