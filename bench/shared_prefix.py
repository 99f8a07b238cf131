"""What sharing the prefix saves: one scenario and seed under several policies, and with
``--vary`` at several design points, run together (``sim.fork.run_configs``, as the study
runner does) and one by one (``sim.api.run``).

Prints the CPU seconds of both, their ratio and whether every run is the same
bit for bit (time series, KPIs, events):

    .venv/bin/python bench/shared_prefix.py                               # covenant, 12 policies
    .venv/bin/python bench/shared_prefix.py --policies sudo,multisig --seeds 0,1
    # design points read after the fork (sim.fork.LATE_FIELDS): the base and one point a value
    .venv/bin/python bench/shared_prefix.py --policies sudo,multisig \
        --vary market.contagion_beta=2.3,3.6 --vary owners.exit_quality_factor=0,0.5

Last line: ``policies=... points=... seeds=... runs=... shared_cpu_s=... alone_cpu_s=... speedup=... identical=...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0], and bench/sim.py would shadow the sim package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from protocol.governance import POLICIES  # noqa: E402
from sim import api  # noqa: E402
from sim.config import SimConfig  # noqa: E402
from sim.fork import run_configs  # noqa: E402


def design_points(base: SimConfig, vary: list[str]) -> list[SimConfig]:
    """``base``, then one point for each ``PATH=V1,V2,...`` value (the others at base)."""
    points = [base]
    for item in vary:
        path, _, values = item.partition("=")
        *sections, name = path.split(".")
        for value in values.split(","):
            body = base.model_dump(mode="json")
            node = body
            for section in sections:
                node = node[section]
            node[name] = float(value)
            points.append(SimConfig.model_validate(body))
    return points


def main() -> None:
    """Parse the options, run both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(REPO / "scenarios" / "covenant_2026.toml"))
    parser.add_argument("--policies", default="all", help="comma-separated, or all")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument(
        "--vary",
        action="append",
        default=[],
        help="PATH=V1,V2,...: a design point per value (repeatable)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    policies = sorted(POLICIES) if args.policies == "all" else args.policies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    # warm-up (imports, compiled kernels): half a day without the shocks
    body = api.load_config(args.scenario, seed=seeds[0]).model_dump()
    api.run(api.load_config({**body, "shocks": [], "horizon_days": 0.5}))
    shared_cpu = alone_cpu = 0.0
    identical = True
    points = design_points(api.load_config(args.scenario), args.vary)
    runs = 0
    for seed in seeds:
        configs = [
            api.load_config(point, policy=policy, seed=seed)
            for point in points
            for policy in policies
        ]
        runs += len(configs)
        start = time.process_time()
        shared = run_configs(configs)
        shared_cpu += time.process_time() - start
        start = time.process_time()
        alone = [api.run(config) for config in configs]
        alone_cpu += time.process_time() - start
        same = [a.fingerprint() == b.fingerprint() for a, b in zip(shared, alone, strict=True)]
        identical &= all(same)
        print(f"seed {seed}: {sum(same)} of {len(configs)} runs identical", flush=True)
    print(
        f"policies={len(policies)} points={len(points)} seeds={len(seeds)} runs={runs} "
        f"shared_cpu_s={shared_cpu:.1f} "
        f"alone_cpu_s={alone_cpu:.1f} speedup={alone_cpu / shared_cpu:.2f} "
        f"identical={int(identical)}"
    )


if __name__ == "__main__":
    main()
