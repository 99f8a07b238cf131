"""What sharing the prefix saves: one scenario and seed under several policies, run together
(``sim.fork.run_policies``, as the study runner does) and one by one (``sim.api.run``).

Prints the CPU seconds of both, their ratio and whether every run is the same
bit for bit (time series, KPIs, events):

    .venv/bin/python bench/shared_prefix.py                               # covenant, 12 policies
    .venv/bin/python bench/shared_prefix.py --policies sudo,multisig --seeds 0,1

Last line: ``policies=... seeds=... shared_cpu_s=... alone_cpu_s=... speedup=... identical=...``.
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
from sim.fork import run_policies  # noqa: E402


def main() -> None:
    """Parse the options, run both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(REPO / "scenarios" / "covenant_2026.toml"))
    parser.add_argument("--policies", default="all", help="comma-separated, or all")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    policies = sorted(POLICIES) if args.policies == "all" else args.policies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    # warm-up (imports, compiled kernels): half a day without the shocks
    body = api.load_config(args.scenario, seed=seeds[0]).model_dump()
    api.run(api.load_config({**body, "shocks": [], "horizon_days": 0.5}))
    shared_cpu = alone_cpu = 0.0
    identical = True
    for seed in seeds:
        start = time.process_time()
        shared = run_policies(args.scenario, policies, seed=seed)
        shared_cpu += time.process_time() - start
        start = time.process_time()
        alone = [api.run(args.scenario, policy, seed) for policy in policies]
        alone_cpu += time.process_time() - start
        same = [a.fingerprint() == b.fingerprint() for a, b in zip(shared, alone, strict=True)]
        identical &= all(same)
        print(f"seed {seed}: {sum(same)} of {len(policies)} runs identical", flush=True)
    print(
        f"policies={len(policies)} seeds={len(seeds)} shared_cpu_s={shared_cpu:.1f} "
        f"alone_cpu_s={alone_cpu:.1f} speedup={alone_cpu / shared_cpu:.2f} "
        f"identical={int(identical)}"
    )


if __name__ == "__main__":
    main()
