"""Targets and markdown tables of the search benchmark (pure functions of run.py's result dict)."""
from __future__ import annotations

from typing import Any

TREE_POLICIES = ("greedy", "sequential", "random")
UTIL_TARGET = 0.97
SYNC_GAP = 0.10           # "well below": at least 10 points under the async utilization
STEP_TARGET_MS = 10.0
MARGIN_SE = 2.0           # "clear margin": paired mean difference above 2 standard errors


NOTES = (
    "The surface (bench/search/surface.py) and the random-edit proposer were fixed before any method was compared; "
    "the proposer stands in for the Researcher LLM and knows nothing of the surface.",
    "hybrid (trex's default): the proposer decides what to change; TPE (trex.search.sampler) sets the numeric knobs "
    "it moved once 4 experiments have finished, and adds one child of its own per expansion. uct: the proposer's "
    "own values (researcher.numeric=llm). sampler: TPE alone through the tree (researcher.numeric=sampler). tpe: "
    "flat Optuna TPE, no tree, one trial at a time (bench/search/tpe.py).",
    "Tree methods use trex's defaults (c=0.05, backup=max, max_children=6, K=3), chosen by bench/search/sweep.py "
    "on seeds 0-19, and the hybrid variant was chosen on seeds 0-9; every table here uses seeds from 1000 on.",
)


def _pm(cell: dict[str, float], digits: int = 3) -> str:
    return f"{cell['mean']:.{digits}f} ± {cell['sd']:.{digits}f}"


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it asks, whether it is met, and the numbers behind the answer."""
    pol = result["policies"]
    ref, table, diff = pol["reference"], pol["table"], pol["ref_minus_other"]
    cps = [c for c in ("20", "50") if c in table[ref]] or [str(pol["checkpoints"][-1])]
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool, detail: str) -> None:
        out.append({"target": name, "met": met, "detail": detail})

    for other in ("uct", "sampler", "tpe", "greedy", "random"):
        rows, met = [], True
        for c in cps:
            d = diff[other][c]
            met &= d["mean"] > MARGIN_SE * d["se"] and d["mean"] > 0
            rows.append(f"@{c}: {ref} - {other} = {d['mean']:+.3f} (paired SE {d['se']:.3f})")
        add(f"{ref} ahead of {other} by > {MARGIN_SE:g} paired SE at {' and '.join(cps)} nodes", met, "; ".join(rows))
    util, n = result["utilization"], result["meta"]["nodes"]
    uh = util[f"hybrid async propose_s=0 nodes={n}"]["utilization"]["mean"]
    add(f"{ref} slot utilization >= {UTIL_TARGET:.0%} (whole {n}-node run, 4 slots, busy slot-s / (slots x makespan))",
        uh >= UTIL_TARGET, f"{uh:.1%}")
    ux = util[f"hybrid asha async propose_s=0 nodes={n}"]["utilization"]["mean"]
    add(f"{ref} with search.fidelity=asha: slot utilization >= {UTIL_TARGET:.0%} (same run shape)",
        ux >= UTIL_TARGET, f"{ux:.1%}")
    ua, us = util[f"llm async propose_s=0 nodes={n}"], util[f"llm sync propose_s=0 nodes={n}"]
    a, s_ = ua["utilization"]["mean"], us["utilization"]["mean"]
    add(f"sync rounds well below async (>= {SYNC_GAP:.0%} points lower)", a - s_ >= SYNC_GAP,
        f"sync {s_:.1%} vs async {a:.1%}")
    for row in result["timing"]:
        if row["nodes"] == 10_000:
            add(f"select + build_memory < {STEP_TARGET_MS:g} ms per step at 10,000 nodes ({row['shape']} tree)",
                row["step_ms"] < STEP_TARGET_MS,
                f"{row['step_ms']:.1f} ms (select {row['select_ms']:.1f}, build_memory {row['memory_ms']:.1f})")
    return out


def render(result: dict[str, Any]) -> str:
    meta, pol = result["meta"], result["policies"]
    cps = [str(c) for c in pol["checkpoints"]]
    lines = [
        "# Search benchmark (simulated executors and Researcher; trex's own search core, loop and sampler)", "",
        f"`python bench/search/run.py --seeds {meta['seeds']} --nodes {meta['nodes']}`"
        f"{' --quick' if meta['quick'] else ''}: {meta['seeds']} seeds, budget {meta['nodes']} nodes "
        f"(root included), tree policies on {meta['policy_slots']} async slots, TPE sequential; "
        f"optuna {meta['optuna']}, Python {meta['python']}, {meta['cpus']} CPUs, "
        f"load average {meta['loadavg_start'][0]:.1f} -> {meta['loadavg_end'][0]:.1f}, "
        f"wall {meta['wall_s']:.0f} s.", "",
        "## Best dev score after n finished nodes (mean ± sd over seeds)", "",
        "| method | " + " | ".join(f"n={c}" for c in cps) + " | max depth | failed nodes | runs stopped early |",
        "|---|" + "---|" * (len(cps) + 3),
    ]
    for name, row in pol["table"].items():
        st = pol["tree_stats"][name]
        depth = f"{st['max_depth']['mean']:.1f}" if st["max_depth"] else "-"
        failed = f"{st['failed']['mean']:.1f}"
        cells = [_pm(row[c]) for c in cps] + [depth, failed, str(st["stopped_early"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"{pol['reference']} minus each method, paired by seed (mean ± sd; SE in parentheses):", "",
              "| vs | " + " | ".join(f"n={c}" for c in cps) + " |", "|---|" + "---|" * len(cps)]
    for name, row in pol["ref_minus_other"].items():
        cells = [f"{row[c]['mean']:+.3f} ± {row[c]['sd']:.3f} ({row[c]['se']:.3f})" for c in cps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"## Nodes to reach a dev score of {pol['target']:.2f}", "",
              "Target: the median final best score over all runs of the main methods, "
              "rounded to 0.01 (so about half of the runs reach it).", "",
              "| method | mean nodes (runs that reach it) | reached | never reached |", "|---|---|---|---|"]
    for name, r in pol["reach"].items():
        mean = f"{r['mean_nodes']:.1f}" if r["mean_nodes"] is not None else "-"
        lines.append(f"| {name} | {mean} | {r['reached']}/{r['runs']} | {r['never_fraction']:.0%} |")
    lines += ["", "## Slot utilization: 4 slots, uneven durations", "",
              "Utilization = busy slot-seconds / (slots x makespan). Mid-run: from the root's result to the "
              "last submission (no ramp-up, no drain). propose_s: simulated Researcher latency per expansion.", "",
              "Idle shares (of slots x makespan): before the root's result / mid-run / after the last submission.", "",
              "| proposals | expansion | propose_s | nodes | utilization | mid-run | idle: ramp-up / mid / drain | "
              "makespan (h) | best at end | duration mean (s) | CV | p10-p90 (s) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["utilization"].values():
        d, i = row["duration_s"], row["idle_share"]
        lines.append(f"| {row['numeric']} | {row['mode']} | {row['propose_s']:g} | {row['nodes']} | "
                     f"{_pm(row['utilization'])} | "
                     f"{_pm(row['mid_utilization'])} | {i['ramp_up']:.1%} / {i['mid_run']:.1%} / {i['drain']:.1%} | "
                     f"{_pm(row['makespan_h'], 2)} | {_pm(row['best_final'])} | "
                     f"{d['mean']:.0f} | {d['cv']:.2f} | {d['p10']:.0f}-{d['p90']:.0f} |")
    lines += ["", "## Per-step cost of select('uct') + build_memory (median ms, time.perf_counter)", "",
              "| tree | nodes | depth | candidates | select | build_memory | select+memory | (CPU time) | "
              "memory lines / tokens |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in result["timing"]:
        lines.append(f"| {r['shape']} | {r['nodes']} | {r['depth']} | {r['candidates']} | {r['select_ms']:.2f} | "
                     f"{r['memory_ms']:.2f} | {r['step_ms']:.2f} | {r['step_cpu_ms']:.2f} | "
                     f"{r['memory_lines']} / {r['memory_tokens']} |")
    if "profile_10k_bushy" in result:
        lines += ["", "cProfile of 10 steps on the 10,000-node bushy tree (cumulative):", "", "```",
                  *[ln for ln in result["profile_10k_bushy"].splitlines() if ln.strip()][-16:], "```"]
    lines += ["", "## Targets", "", "| target | met | numbers |", "|---|---|---|"]
    for v in result["targets"]:
        lines.append(f"| {v['target']} | {'yes' if v['met'] else '**no**'} | {v['detail']} |")
    lines += ["", "## Notes", "", *[f"- {note}" for note in NOTES]]
    return "\n".join(lines) + "\n"
