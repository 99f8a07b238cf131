"""The README's tour, as written, leaves the checkout as it was.

The commands are read from README.md ("## A tour"), so the test follows the README when it
changes. They run in a temporary directory holding a copy of ``scenarios/`` (the tour's
relative paths, ``scenarios/data/sn15_block4769998.json`` and the Python block's
``scenarios/*.toml``, are the checkout's), with a few flags appended to keep them cheap where
the command takes them (fewer seeds, a one-day horizon, fewer training rounds, one process, no
report where the tour's next line writes it).
``govsim run`` and the Python block have no such flags: while they run, ``sim.api.run`` shrinks
the config it is given the same way (one day on a small network; ``tests/scenarios/tiny.py``)
and then runs it for real. The full-size ``govsim run covenant_2026`` runs, as a user types it,
in ``tests/sim/test_cli_discover.py``.
Before and after, ``git status --porcelain --ignored`` of the checkout must be the same: no
tracked change, no new file, not even an ignored one (``runs/``, ``studies/`` and ``out/``
are ignored, so plain ``git status`` would not see them). The live-mode lines of the tour
need a running coordinator; ``tests/sim/test_live_talks.py`` runs them.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import sim
from sim import api
from sim.cli import main
from sim.config import SimConfig
from sim.schema import load_scenario
from tests.scenarios.tiny import tiny_config, tiny_set_args

REPO = Path(__file__).resolve().parents[1]
#: Paths git may list as ignored that other activity (imports, other tests) creates.
_NOISE = (
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "test-artifacts",
    ".venv",
    ".egg-info",
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tour_block(language: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## A tour", 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def tour_commands() -> list[list[str]]:
    """The ``govsim`` commands of the README's tour (continuations joined, comments cut)."""
    commands, pending = [], ""
    for line in _tour_block("bash").splitlines():
        line = line.split(" #", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            commands.append(shlex.split(line))
    return commands


def _checkout_state() -> list[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in out.splitlines() if not any(part in line for part in _NOISE))


def _cheap(args: list[str]) -> list[str]:
    """Flags appended to a tour command so that it runs in seconds (the last value wins)."""
    command = args[0]
    # --no-report: the tour's next line, `govsim report`, writes the report (and is checked).
    if command == "compare":
        covenant = load_scenario(REPO / "scenarios" / "covenant_2026.toml")
        return [
            "--seeds",
            "2",
            "--executor",
            "sequential",
            "--quiet",
            "--no-report",
            *tiny_set_args(covenant, 1.0),
        ]
    if command == "sweep":
        return [
            "--seeds",
            "1",
            "--executor",
            "sequential",
            "--quiet",
            "--no-report",
            "--set",
            "horizon_days=1",
        ]
    if command == "ground-truth":
        return ["--rounds", "2"]
    return []


class _ShrinkingRun:
    """Stands in for ``sim.api.run``: the real run, on the config shrunk by ``tiny_config``.

    Remembers what it was asked to run (a path, or the config's name), so the test can check
    that the README's lines reached it.
    """

    def __init__(self) -> None:
        self.real = api.run
        self.asked: list[str] = []

    def __call__(self, scenario: object, *args: object, **kwargs: object) -> api.RunResult:
        self.asked.append(scenario.name if isinstance(scenario, SimConfig) else str(scenario))
        config = scenario if isinstance(scenario, SimConfig) else api.load_config(scenario)
        return self.real(tiny_config(config), *args, **kwargs)


def test_the_tour_is_what_this_test_runs() -> None:
    """If the README's tour changes, this test (and ``_cheap``) must follow it."""
    commands = tour_commands()
    assert all(c[0] == "govsim" for c in commands)
    assert [c[1] for c in commands] == [
        "scenarios",
        "policies",
        "run",
        "compare",
        "report",
        "sweep",
        "report",
        "yuma",
        "ground-truth",
        "live",
        "live",
        "live",
    ]


@pytest.mark.slow
def test_the_readme_tour_leaves_the_checkout_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _checkout_state()
    shutil.copytree(
        REPO / "scenarios", tmp_path / "scenarios", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    runner = CliRunner()
    shrinking = _ShrinkingRun()
    outputs = {}
    for command in tour_commands():
        args = command[1:]
        if args[0] == "live":
            continue  # needs a coordinator: tests/sim/test_live_talks.py
        with monkeypatch.context() as patch:
            if args[0] == "run":
                patch.setattr(api, "run", shrinking)
            result = runner.invoke(main, [*args, *_cheap(args)])
        assert result.exit_code == 0, (args, result.output[-2000:])
        outputs[" ".join(args[:2])] = result.output
    assert shrinking.asked == ["covenant_2026"]
    assert "6 subnets x 16 uids, 1 days" in outputs["run covenant_2026"]  # the shrunk run ran

    # What the tour promises, written where it was run.
    assert "covenant_2026" in outputs["scenarios list"]
    assert outputs["policies list"].startswith("12 governance policies")
    assert sorted(p.name for p in (tmp_path / "runs" / "one").iterdir()) == [
        "events.json",
        "kpis.json",
        "timeseries.parquet",
    ]
    assert (tmp_path / "studies" / "covenant" / "report.html").is_file()
    report = outputs["report studies/covenant"]
    assert "Harm" in report and "runs (n)" in report and "verdict:" in report
    assert "cabal.gain per design point" in outputs["report studies/cabal"]
    assert (tmp_path / "studies" / "cabal" / "report.html").is_file()
    assert (tmp_path / "runs" / "gt" / "rounds.parquet").is_file()

    # The Python lines of the tour, in the same directory, shrunk the same way.
    namespace: dict[str, object] = {}
    with monkeypatch.context() as patch:
        patch.setattr(api, "run", shrinking)
        patch.setattr(sim, "run", shrinking)  # another test's monkeypatch may have bound it
        exec(compile(_tour_block("python"), "README.md (A tour)", "exec"), namespace)
    assert shrinking.asked[1:] == ["scenarios/covenant_2026.toml", *["scenarios/baseline.toml"] * 2]
    assert namespace["result"].kpis is not None and namespace["result"].kpis["days"] == 1.0

    assert _checkout_state() == before, "the README's tour changed the checkout"
