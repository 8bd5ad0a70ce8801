"""UCT settings swept on the simulated surface, beside greedy: mean best score at 20 and 50 nodes.

    python bench/search/sweep.py [--seeds 20]

Every configuration runs on the same seeds (the same noise stream), so differences are paired.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.search.simulate import SimConfig, simulate
from trex.tree.policy import Backup, PolicySettings


def curve(policy: str, settings: PolicySettings, seeds: int, nodes: int = 50) -> tuple[float, float]:
    finals = [simulate(SimConfig(policy=policy, nodes=nodes, settings=settings, seed=s)).best for s in range(seeds)]
    at = lambda n: statistics.fmean(b[min(n, len(b)) - 1] for b in finals)  # noqa: E731
    return at(20), at(50)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    print("| policy | c | backup | max_children | best@20 | best@50 |\n|---|---|---|---|---|---|")
    g20, g50 = curve("greedy", PolicySettings(), args.seeds)
    print(f"| greedy | - | - | 3 | {g20:.3f} | {g50:.3f} |", flush=True)
    for c, backup, cap in itertools.product((0.05, 0.1, 0.2, 0.5, 1.0), (Backup.MEAN, Backup.MAX), (3, 6)):
        b20, b50 = curve("uct", PolicySettings(exploration=c, backup=backup, max_children=cap), args.seeds)
        print(f"| uct | {c} | {backup.value} | {cap} | {b20:.3f} | {b50:.3f} |", flush=True)


if __name__ == "__main__":
    main()
