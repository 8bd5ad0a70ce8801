"""Targets and markdown tables of the search benchmark (pure functions of run.py's result dict)."""
from __future__ import annotations

from typing import Any

TREE_POLICIES = ("greedy", "sequential", "random")
UTIL_TARGET = 0.95
SYNC_GAP = 0.10           # "well below": at least 10 points under the async utilization
STEP_TARGET_MS = 10.0
MARGIN_SE = 2.0           # "clear margin": paired mean difference above 2 standard errors


NOTES = (
    "The surface (bench/search/surface.py) and the proposer were fixed before any policy was compared.",
    "uct runs with trex's defaults (c=0.05, backup=max, max_children=6, K=3), chosen by bench/search/sweep.py "
    "on seeds 0-19; every table here uses seeds from 1000 on. With c >= 0.2 uct trails greedy on this surface: "
    "the flat UCT rule compares mostly one-visit leaves, whose exploration bonus c*sqrt(ln N_parent) "
    "outweighs reward gaps of a few hundredths, so large c spreads effort over weak branches.",
    "The proposer makes 1-2 local edits from the root's default spec (128 samples, 1 epoch), so the tree needs "
    "many steps to reach large data; TPE samples the whole space from its first trial (cold starts only, "
    "one trial at a time). The tree-vs-TPE ranking is specific to this proposer.",
)


def _pm(cell: dict[str, float], digits: int = 3) -> str:
    return f"{cell['mean']:.{digits}f} ± {cell['sd']:.{digits}f}"


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it asks, whether it is met, and the numbers behind the answer."""
    pol = result["policies"]
    table, diff = pol["table"], pol["uct_minus_other"]
    cps = [c for c in ("20", "50") if c in table["uct"]] or [str(pol["checkpoints"][-1])]
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool, detail: str) -> None:
        out.append({"target": name, "met": met, "detail": detail})

    for others, label in ((TREE_POLICIES, "greedy, sequential, random"), (("tpe",), "TPE (outside reference)")):
        rows = []
        met = True
        for c in cps:
            u = table["uct"][c]["mean"]
            for o in others:
                v = table[o][c]["mean"]
                met &= u >= v
                rows.append(f"@{c}: uct {u:.3f} vs {o} {v:.3f}")
        add(f"uct >= {label} in mean best score at {' and '.join(cps)} nodes", met, "; ".join(rows))
    rows, met = [], True
    for c in cps:
        d = diff["random"][c]
        ok = d["mean"] > MARGIN_SE * d["se"] and d["mean"] > 0
        met &= ok
        rows.append(f"@{c}: uct - random = {d['mean']:+.3f} (paired SE {d['se']:.3f})")
    add(f"uct ahead of random by a clear margin (paired mean difference > {MARGIN_SE:g} SE)", met, "; ".join(rows))
    util, n = result["utilization"], result["meta"]["nodes"]
    ua, us = util[f"async propose_s=0 nodes={n}"], util[f"sync propose_s=0 nodes={n}"]
    a, s = ua["utilization"]["mean"], us["utilization"]["mean"]
    add(f"async utilization >= {UTIL_TARGET:.0%} (whole {n}-node run, busy slot-s / (slots x makespan))",
        a >= UTIL_TARGET, f"async {a:.1%}")
    add(f"sync rounds well below async (>= {SYNC_GAP:.0%} points lower)", a - s >= SYNC_GAP,
        f"sync {s:.1%} vs async {a:.1%}")
    am = ua["mid_utilization"]["mean"]
    add(f"async mid-run utilization >= {UTIL_TARGET:.0%} (root result -> last submission; not the stated metric)",
        am >= UTIL_TARGET, f"async {am:.1%}, sync {us['mid_utilization']['mean']:.1%}")
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
        "# Search-policy benchmark (simulated executors and proposer, real trex Tree/select/memory)", "",
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
    lines += ["", "uct minus each method, paired by seed (mean ± sd; SE in parentheses):", "",
              "| vs | " + " | ".join(f"n={c}" for c in cps) + " |", "|---|" + "---|" * len(cps)]
    for name, row in pol["uct_minus_other"].items():
        cells = [f"{row[c]['mean']:+.3f} ± {row[c]['sd']:.3f} ({row[c]['se']:.3f})" for c in cps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"## Nodes to reach a dev score of {pol['target']:.2f}", "",
              "Target: the median final best score over all runs of uct/greedy/sequential/random/tpe, "
              "rounded to 0.01 (so about half of the runs reach it).", "",
              "| method | mean nodes (runs that reach it) | reached | never reached |", "|---|---|---|---|"]
    for name, r in pol["reach"].items():
        mean = f"{r['mean_nodes']:.1f}" if r["mean_nodes"] is not None else "-"
        lines.append(f"| {name} | {mean} | {r['reached']}/{r['runs']} | {r['never_fraction']:.0%} |")
    lines += ["", "## Slot utilization: uct, 4 slots, uneven durations", "",
              "Utilization = busy slot-seconds / (slots x makespan). Mid-run: from the root's result to the "
              "last submission (no ramp-up, no drain). propose_s: simulated Researcher latency per expansion.", "",
              "Idle shares (of slots x makespan): before the root's result / mid-run / after the last submission.", "",
              "| expansion | propose_s | nodes | utilization | mid-run | idle: ramp-up / mid / drain | makespan (h) | "
              "best at end | duration mean (s) | CV | p10-p90 (s) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["utilization"].values():
        d, i = row["duration_s"], row["idle_share"]
        lines.append(f"| {row['mode']} | {row['propose_s']:g} | {row['nodes']} | {_pm(row['utilization'])} | "
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
