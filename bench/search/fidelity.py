"""Multi-fidelity promotion (search.fidelity=asha) against full-fidelity nodes, on the simulated
benchmark, compute-matched: for each seed, the wall budget T_N is the time trex's default
(hybrid, full fidelity) takes for N nodes; every variant then runs for T_N simulated minutes
(node count unbounded). Scored by the best dev score the search reports and by the noiseless
full-dev score of the node it returns (what the user gets: a proxy's score is noisier and its
adapter had less training). Also: slot utilization over a whole 50-node run, with and without asha.

    python bench/search/fidelity.py [--seeds 20] [--tune]    # --tune: the variant grid on seeds 0-19

Writes bench/results/search-fidelity.{md,json} (held-out seeds 1000+), or -tune with --tune.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.search.run import DEFAULT, SEED0, mean_sd  # noqa: E402
from bench.search.simulate import SimConfig, simulate  # noqa: E402
from trex.search.planner import Numeric  # noqa: E402

BASE = SimConfig(policy="uct", settings=DEFAULT, numeric=Numeric.HYBRID)
VARIANTS = {
    "full": {},
    "asha eta=3 min=1/3 dev=0.5": {"fidelity": "asha"},
}
TUNE = {
    **VARIANTS,
    "asha eta=2 min=1/2": {"fidelity": "asha", "eta": 2, "min_fidelity": 0.5},
    "asha eta=2 min=1/4": {"fidelity": "asha", "eta": 2, "min_fidelity": 0.25},
    "asha eta=3 min=1/9": {"fidelity": "asha", "eta": 3, "min_fidelity": 1 / 9},
    "asha eta=4 min=1/4": {"fidelity": "asha", "eta": 4, "min_fidelity": 0.25},
}
BUDGETS = (20, 50)


def compare(seeds: range, variants: dict[str, dict]) -> dict:
    rows: dict[str, dict[int, dict[str, list[float]]]] = {v: {n: {"best": [], "true": [], "util": [], "nodes": []}
                                                             for n in BUDGETS} for v in variants}
    for seed in seeds:
        for n in BUDGETS:
            minutes = simulate(replace(BASE, nodes=n, seed=seed)).makespan / 60
            for name, over in variants.items():
                res = simulate(replace(BASE, nodes=10_000, minutes=minutes, seed=seed, **over))
                cell = rows[name][n]
                cell["best"].append(res.best[-1])
                cell["true"].append(res.chosen_true or 0.0)
                cell["util"].append(res.utilization())
                cell["nodes"].append(len(res.best))
        print(f"  seed {seed} done", flush=True)
    ref = next(iter(variants))
    table = {}
    for name in variants:
        table[name] = {}
        for n in BUDGETS:
            cell, base = rows[name][n], rows[ref][n]
            table[name][str(n)] = {k: mean_sd(v) for k, v in cell.items()}
            table[name][str(n)]["true_minus_full"] = mean_sd([a - b for a, b in
                                                              zip(cell["true"], base["true"], strict=False)])
            table[name][str(n)]["best_minus_full"] = mean_sd([a - b for a, b in
                                                              zip(cell["best"], base["best"], strict=False)])
    return table


def utilization(seeds: range, nodes: int = 50) -> dict:
    out = {}
    for name, over in VARIANTS.items():
        runs = [simulate(replace(BASE, nodes=nodes, seed=s, **over)) for s in seeds]
        out[name] = {"utilization": mean_sd([r.utilization() for r in runs]),
                     "best": mean_sd([r.best[-1] for r in runs]),
                     "true": mean_sd([r.chosen_true or 0.0 for r in runs]),
                     "hours": mean_sd([r.makespan / 3600 for r in runs])}
    return out


def render(result: dict) -> str:
    lines = [f"# Multi-fidelity promotion on the simulated benchmark ({result['seeds_label']})", "",
             "Compute-matched: per seed, T_N = the simulated wall time trex's default (hybrid, full fidelity) "
             "takes for N nodes; each variant runs for T_N (node count unbounded). `true` is the noiseless "
             "full-dev score of the node the search returns; `best` is the dev score it reports. Differences "
             "are paired by seed against full fidelity (mean ± SE).", "",
             "| variant | budget | true | true − full | best | best − full | nodes | utilization |",
             "|---|---|---|---|---|---|---|---|"]
    for name, by_n in result["compare"].items():
        for n, c in by_n.items():
            lines.append(f"| {name} | T_{n} | {c['true']['mean']:.3f} | {c['true_minus_full']['mean']:+.3f} ± "
                         f"{c['true_minus_full']['se']:.3f} | {c['best']['mean']:.3f} | "
                         f"{c['best_minus_full']['mean']:+.3f} ± {c['best_minus_full']['se']:.3f} | "
                         f"{c['nodes']['mean']:.1f} | {c['util']['mean']:.1%} |")
    if "utilization" in result:
        lines += ["", "Whole 50-node runs (node budget only; 2 slots): utilization over the whole run.", "",
                  "| variant | utilization | true | best | hours |", "|---|---|---|---|---|"]
        for name, u in result["utilization"].items():
            lines.append(f"| {name} | {u['utilization']['mean']:.1%} | {u['true']['mean']:.3f} | "
                         f"{u['best']['mean']:.3f} | {u['hours']['mean']:.2f} |")
    lines += ["", f"Wall {result['wall_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--tune", action="store_true", help="the variant grid on tuning seeds 0..seeds-1")
    args = ap.parse_args()
    started = time.perf_counter()
    seeds = range(0, args.seeds) if args.tune else range(SEED0, SEED0 + args.seeds)
    result = {"seeds_label": f"{'tuning' if args.tune else 'held-out'} seeds {seeds.start}-{seeds.stop - 1}",
              "compare": compare(seeds, TUNE if args.tune else VARIANTS)}
    if not args.tune:
        result["utilization"] = utilization(seeds)
    result["wall_s"] = time.perf_counter() - started
    md = render(result)
    print(md)
    out = ROOT / "bench/results" / ("search-fidelity-tune" if args.tune else "search-fidelity")
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
