"""Search-policy benchmark: simulated executors and proposer, the real trex tree and policies.

    python bench/search/run.py [--seeds 20] [--nodes 50] [--quick] [--out PREFIX]

Writes PREFIX.md (tables) and PREFIX.json (everything, per-seed curves included); PREFIX is
bench/results/search, or /tmp/trex-search-quick with --quick (a smoke check, < 1 minute).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.search.report import render, verdicts  # noqa: E402
from bench.search.simulate import Mode, SimConfig, SimResult, simulate  # noqa: E402
from bench.search.timing import grow_tree, profile_step, time_step  # noqa: E402
from trex.search.planner import Numeric  # noqa: E402
from trex.tree.policy import Backup, PolicySettings  # noqa: E402

MAIN = ("hybrid", "uct", "sampler", "greedy", "sequential", "random", "tpe")
REFERENCE = "hybrid"          # trex's default; every other method is compared with it, paired by seed
C_SWEEP = (0.1, 0.5, 1.0)
CHECKPOINTS = (10, 20, 50)
POLICY_SLOTS = 2


def tree_method(policy: str, settings: PolicySettings, k: int = 3, slots: int = POLICY_SLOTS,
                numeric: Numeric = Numeric.LLM) -> Callable[[int, int], SimResult]:
    return lambda seed, nodes: simulate(SimConfig(policy=policy, nodes=nodes, slots=slots, settings=settings,
                                                  k=k, seed=seed, numeric=numeric))


# trex's defaults (conf/search/uct.yaml), chosen by bench/search/sweep.py on seeds 0-19;
# the tables below use SEED0 onwards, seeds the sweep never saw.
DEFAULT = PolicySettings(exploration=0.05, backup=Backup.MAX, max_children=6)
SEED0 = 1000


def methods() -> dict[str, Callable[[int, int], SimResult] | None]:
    """Every curve the benchmark draws; None marks TPE (no tree)."""
    out: dict[str, Callable[[int, int], SimResult] | None] = {
        "hybrid": tree_method("uct", DEFAULT, numeric=Numeric.HYBRID),
        "uct": tree_method("uct", DEFAULT),
        "sampler": tree_method("uct", DEFAULT, numeric=Numeric.SAMPLER),
        "greedy": tree_method("greedy", DEFAULT),
        "sequential": tree_method("sequential", DEFAULT),
        "random": tree_method("random", DEFAULT),
        "tpe": None,
    }
    for c in C_SWEEP:
        out[f"uct c={c} mean, 3 children"] = tree_method("uct", PolicySettings(exploration=c, backup=Backup.MEAN,
                                                                               max_children=3))
    out["uct vl=0"] = tree_method("uct", PolicySettings(exploration=0.05, backup=Backup.MAX, max_children=6,
                                                        virtual_loss=0.0))
    out["uct K=1 (1 child per expansion)"] = tree_method("uct", DEFAULT, k=1)
    return out


def mean_sd(xs: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "se": statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0, "n": len(xs)}


def run_policies(seeds: int, nodes: int) -> dict[str, dict]:
    from bench.search.tpe import run_tpe
    curves: dict[str, dict] = {}
    for name, fn in methods().items():
        t0 = time.perf_counter()
        rows, depth, failed, early = [], [], [], 0
        for seed in range(SEED0, SEED0 + seeds):
            if fn is None:
                best, n_failed = run_tpe(seed, nodes)
            else:
                res = fn(seed, nodes)
                best, n_failed = res.best, res.failed
                depth.append(res.max_depth)
            early += len(best) < nodes
            rows.append(best + best[-1:] * (nodes - len(best)))     # a search that stopped early keeps its best
            failed.append(n_failed)
        curves[name] = {"best": rows, "max_depth": depth, "failed": failed, "stopped_early": early,
                        "wall_s": time.perf_counter() - t0}
        print(f"  {name:32s} {time.perf_counter() - t0:6.1f} s", flush=True)
    return curves


def summarize_policies(curves: dict[str, dict], nodes: int) -> dict:
    checkpoints = [c for c in CHECKPOINTS if c <= nodes] or [nodes]
    table = {name: {str(c): mean_sd([row[c - 1] for row in data["best"]]) for c in checkpoints}
             for name, data in curves.items()}
    finals = sorted(row[-1] for name in MAIN for row in curves[name]["best"])
    target = round(statistics.median(finals) - 0.005, 2)          # a round target about half the runs reach
    reach = {}
    for name, data in curves.items():
        hits = [next((i + 1 for i, b in enumerate(row) if b >= target), None) for row in data["best"]]
        ok = [h for h in hits if h is not None]
        reach[name] = {"mean_nodes": statistics.fmean(ok) if ok else None, "reached": len(ok),
                       "never_fraction": 1 - len(ok) / len(hits), "runs": len(hits)}
    paired = {}
    for other in curves:
        if other == REFERENCE:
            continue
        paired[other] = {str(c): mean_sd([u[c - 1] - o[c - 1] for u, o in zip(curves[REFERENCE]["best"],
                                                                               curves[other]["best"], strict=True)])
                         for c in checkpoints}
    extra = {name: {"max_depth": mean_sd(d["max_depth"]) if d["max_depth"] else None,
                    "failed": mean_sd(d["failed"]), "stopped_early": d["stopped_early"]}
             for name, d in curves.items()}
    return {"checkpoints": checkpoints, "table": table, "target": target, "reach": reach,
            "reference": REFERENCE, "ref_minus_other": paired, "tree_stats": extra}


def run_utilization(seeds: int, nodes: int, slots: int = 4, long_nodes: int = 200) -> dict:
    """On `slots` slots: the hybrid default (async), then the loop itself with the random-edit proposer
    (cheap): async vs sync rounds, with and without Researcher latency, and a longer run."""
    asha = {"fidelity": "asha"}
    grid = [(Numeric.HYBRID, Mode.ASYNC, 0.0, nodes), (Numeric.HYBRID, Mode.ASYNC, 30.0, nodes),
            (Numeric.HYBRID, Mode.ASYNC, 0.0, nodes, asha),
            (Numeric.LLM, Mode.ASYNC, 0.0, nodes), (Numeric.LLM, Mode.SYNC, 0.0, nodes),
            (Numeric.LLM, Mode.ASYNC, 30.0, nodes), (Numeric.LLM, Mode.SYNC, 30.0, nodes),
            (Numeric.LLM, Mode.ASYNC, 0.0, long_nodes), (Numeric.LLM, Mode.SYNC, 0.0, long_nodes)]
    out: dict[str, dict] = {}
    for numeric, mode, propose_s, n, *over in grid:
        extra = over[0] if over else {}
        runs = [simulate(SimConfig(policy="uct", nodes=n, slots=slots, mode=mode, propose_s=propose_s, settings=DEFAULT,
                                   seed=seed, numeric=numeric, **extra)) for seed in range(SEED0, SEED0 + seeds)]
        durations = [e - s for r in runs for s, e in r.intervals]
        deciles = statistics.quantiles(durations, n=10)
        idle = [r.idle_shares() for r in runs]
        label = numeric.value + (" asha" if extra else "")
        out[util_key(label, mode.value, propose_s, n)] = {
            "numeric": label, "mode": mode.value, "propose_s": propose_s, "slots": slots, "nodes": n,
            "utilization": mean_sd([r.utilization() for r in runs]),
            "mid_utilization": mean_sd([r.mid_utilization() for r in runs]),
            "idle_share": {k: statistics.fmean(i[k] for i in idle) for k in idle[0]},
            "makespan_h": mean_sd([r.makespan / 3600 for r in runs]),
            "best_final": mean_sd([r.best[-1] for r in runs]),
            "duration_s": {"mean": statistics.fmean(durations),
                           "cv": statistics.stdev(durations) / statistics.fmean(durations),
                           "p10": deciles[0], "p90": deciles[-1]}}
        print(f"  {label:12s} {mode.value:5s} propose_s={propose_s:<4g} nodes={n:<4d} utilization "
              f"{out[util_key(label, mode.value, propose_s, n)]['utilization']['mean']:.3f}", flush=True)
    return out


def util_key(numeric: str, mode: str, propose_s: float, nodes: int) -> str:
    return f"{numeric} {mode} propose_s={propose_s:g} nodes={nodes}"


def run_timing(sizes: tuple[int, ...], shapes: tuple[str, ...], repeats: int) -> list[dict]:
    from trex.tree.policy import expandable
    rows = []
    for shape in shapes:
        for n in sizes:
            t0 = time.perf_counter()
            tree = grow_tree(n, seed=0, shape=shape)
            built = time.perf_counter() - t0
            step = time_step(tree, shape, repeats)
            rows.append({**asdict(step), "build_s": built, "candidates": len(expandable(tree, 3))})
            print(f"  {shape:5s} {n:6d} nodes: step {step.step_ms:7.2f} ms (select {step.select_ms:.2f}, "
                  f"memory {step.memory_ms:.2f}); built in {built:.1f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="3 seeds, bushy trees only: a smoke check")
    ap.add_argument("--out", default=None, help="output prefix (default bench/results/search)")
    ap.add_argument("--repeats", type=int, default=21, help="timed calls per tree size (median)")
    args = ap.parse_args()
    seeds = 3 if args.quick else args.seeds
    out = Path(args.out or ("/tmp/trex-search-quick" if args.quick else ROOT / "bench/results/search"))
    import optuna
    started = time.perf_counter()
    meta = {"seeds": seeds, "nodes": args.nodes, "quick": args.quick, "policy_slots": POLICY_SLOTS,
            "optuna": optuna.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg()}
    print(f"policies: {seeds} seeds x {args.nodes} nodes, {POLICY_SLOTS} slots", flush=True)
    curves = run_policies(seeds, args.nodes)
    print("utilization: 4 slots; hybrid, then the loop with the random-edit proposer (async vs sync)", flush=True)
    util = run_utilization(seeds, args.nodes)
    print("timing: select('uct') + build_memory", flush=True)
    timing = run_timing((100, 1_000, 10_000), ("bushy",) if args.quick else ("bushy", "deep"), args.repeats)
    meta["loadavg_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - started
    result = {"meta": meta, "policies": summarize_policies(curves, args.nodes), "utilization": util,
              "timing": timing}
    result["profile_10k_bushy"] = profile_step(grow_tree(10_000, seed=0), top=14)
    result["targets"] = verdicts(result)
    result["curves"] = {name: data["best"] for name, data in curves.items()}
    md = render(result)
    print(md)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')} in {meta['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
