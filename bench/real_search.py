"""Real searches side by side on this machine: trex's default (hybrid: the agent LLM decides what
to change, TPE the numbers), the sampler alone through the same executor (TPE, no LLM), and a
fixed hand recipe, at the same wall budget.

    python bench/real_search.py [--methods trex,tpe,hand] [--seeds 0] [--minutes 25] [--out bench/results/real-search]

Each search is `python -m trex.launch +task=math` in its own process (search.max_minutes=M: no
node starts after M minutes, and every node is trimmed to finish by then; the final test pass
follows). The hand recipe is one Executor run in this process on all cores: LoRA r16 on all
linear layers, reasoning-then-answer completions, lr 5e-4, 480 examples x 3 epochs (180 steps
of batch 8), then dev and test. Appends one JSON line per run to OUT.jsonl; --report renders
OUT.md from it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASK = {"train_size": 4000, "dev_size": 100, "test_size": 200}
METHOD_ARGS = {"trex": [], "tpe": ["researcher.numeric=sampler"],      # overrides of trex's defaults per method
               "trex-full": ["search.fidelity=full"], "trex-asha": ["search.fidelity=asha"]}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def run_trex(method: str, seed: int, minutes: float, runs: Path) -> dict:
    name = f"{method}-seed{seed}-{time.strftime('%H%M%S')}"
    args = [sys.executable, "-m", "trex.launch", "+task=math", f"run_dir={runs}", f"name={name}",
            f"search.seed={seed}", f"search.max_minutes={minutes}", "tracker=none"]
    args += METHOD_ARGS[method]
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          stdout=open(runs / f"{name}.log", "w"), stderr=subprocess.STDOUT)
    return row_of(method, seed, runs / name, proc.returncode, time.monotonic() - t0)


def row_of(method: str, seed: int, run_dir: Path, exit_code: int, wall: float) -> dict:
    """The table row of a finished search folder."""
    final = json.loads((run_dir / "final.json").read_text())
    tree = json.loads((run_dir / "tree.json").read_text())
    nodes = list(tree["nodes"].values()) if isinstance(tree["nodes"], dict) else tree["nodes"]
    best = max((n for n in nodes if n.get("score") is not None), key=lambda n: n["score"])
    return {"method": method, "seed": seed, "exit": exit_code, "wall_s": wall, "best_dev": best["score"],
            "base_dev": nodes[0].get("score"), "test": final["best_test"], "base_test": final["base_test"],
            "nodes": len(nodes), "failed": sum(n["status"] == "FAILED" for n in nodes),
            "origins": [n.get("origin", "") for n in nodes], "best_node": best["id"],
            "best_proxy": bool(best.get("result") and (best["result"].get("fidelity", 1.0) < 1
                                                     or best["result"].get("dev_fraction", 1.0) < 1)),
            "promotions": sum(max(0, len(n.get("rung_scores", [])) - 1) for n in nodes),
            "llm_s": tree.get("llm_usage", {}).get("seconds", 0.0),
            "llm_calls": tree.get("llm_usage", {}).get("calls", 0),
            "idle_slot_s": idle_slot_seconds(nodes, slots=2), "stop": final["stop_reason"], "run_dir": str(run_dir)}


def idle_slot_seconds(nodes: list[dict], slots: int) -> float:
    """Slot-seconds with no node running, from the first node's start to the last node's start
    (ramp-down after the budget excluded): time the search left executors waiting."""
    spans = sorted((n["started_at"], n["finished_at"]) for n in nodes if n.get("started_at") and n.get("finished_at"))
    if not spans:
        return 0.0
    start, end = spans[0][0], max(s for s, _ in spans)
    busy = sum(max(0.0, min(f, end) - max(s, start)) for s, f in spans)
    return slots * (end - start) - busy


def run_hand(seed: int, runs: Path) -> dict:
    import torch

    from ftbench.base import Split
    from trex.config import ExecutorConfig
    from trex.execute.executor import Executor, ExecutorSettings
    from trex.model.resolve import resolve_model
    from trex.search.contracts import Job
    from trex.tree.records import AnswerFormat, DataRecipe, Direction, ExperimentSpec, TrainConfig

    spec = ExperimentSpec(objective="hand recipe", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=480, answer_format=AnswerFormat.REASONING),
                          train=TrainConfig(learning_rate=5e-4, epochs=3, batch_size=8, lora_r=16, lora_alpha=32))
    node_dir = runs / f"hand-seed{seed}-{time.strftime('%H%M%S')}"
    node_dir.mkdir(parents=True)
    t0 = time.monotonic()
    executor = Executor(ExecutorSettings(task="math", model_path=resolve_model("builtin:smollm2-135m-instruct"),
                                         task_options=TASK,
                                         config=ExecutorConfig(cpus_per_executor=os.cpu_count() or 1)))
    dev = executor.run(Job(node_id="hand", spec=spec, node_dir=str(node_dir), seed=seed, data_seed=seed))
    test = executor.run(Job(node_id="hand", spec=spec, node_dir=str(node_dir), seed=seed, train=False,
                            split=Split.TEST, adapter=dev.adapter_path))
    return {"method": "hand", "seed": seed, "exit": 0 if dev.score is not None else 1,
            "wall_s": time.monotonic() - t0, "best_dev": dev.score, "test": test.score, "nodes": 1,
            "train_s": dev.cost.train_s, "threads": torch.get_num_threads(), "llm_s": 0.0, "idle_slot_s": 0.0,
            "error": dev.error, "run_dir": str(node_dir)}


def render(rows: list[dict], meta: str) -> str:
    out = ["# Real searches side by side (math, SmolLM2-135M)", "", meta, "",
           "| method | code | seed | best dev | test (best node) | wall (min) | nodes (failed) | LLM s (calls) "
           "| idle slot-s | stopped because |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['method']} | {r.get('commit', '-')} | {r['seed']} | "
                   f"{r['best_dev']:.3f}{'*' * bool(r.get('best_proxy'))} | "
                   f"{fmt(r.get('test'))} | "
                   f"{r['wall_s'] / 60:.1f} | {r['nodes']} ({r.get('failed', 0)}) | {r['llm_s'] or 0:.0f} "
                   f"({r.get('llm_calls', 0)}) | {r['idle_slot_s']:.0f} | {r.get('stop', 'one fixed run')} |")
    notes = [f"- {r['method']} at {r.get('commit', '-')}: {r['note']}" for r in rows if r.get("note")]
    if any(r.get("best_proxy") for r in rows):
        notes.append("- best dev marked *: the best node is a proxy (search.fidelity=asha), scored on part of dev")
    out += ["", *notes] if notes else []
    out += ["", "Grouped (`group` in the JSON line, else the method): rows of the same defaults at different "
            "commits count together; rows of code since changed are apart.", "",
            "| group | runs (seeds) | mean best dev | mean test | mean wall (min) |", "|---|---|---|---|---|"]
    for group in dict.fromkeys(r.get("group", r["method"]) for r in rows):
        rs = [r for r in rows if r.get("group", r["method"]) == group]
        tests = [r["test"] for r in rs if r.get("test") is not None]
        out.append(f"| {group} | {len(rs)} ({', '.join(str(r['seed']) for r in rs)}) | "
                   f"{statistics.fmean(r['best_dev'] for r in rs):.3f} | "
                   f"{fmt(statistics.fmean(tests) if tests else None)} | "
                   f"{statistics.fmean(r['wall_s'] for r in rs) / 60:.1f} |")
    return "\n".join(out) + "\n"


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="trex,tpe,hand")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/real-search"))
    ap.add_argument("--runs", default=str(ROOT / "runs/real-search"))
    ap.add_argument("--report", action="store_true", help="only render OUT.md from OUT.jsonl")
    ap.add_argument("--collect", nargs=3, metavar=("METHOD", "SEED", "RUN_DIR"),
                    help="append the row of a search that ran outside this script (wall: its own final.json)")
    args = ap.parse_args()
    out, runs = Path(args.out), Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    meta = (f"Machine: {cpu_name()}, {os.cpu_count()} cores; search.max_minutes={args.minutes:g} per search "
            "(2 executor slots, 1 core each; the agent LLM is llama.cpp on the same cores).")
    if args.collect:
        method, seed, run_dir = args.collect
        row = row_of(method, int(seed), Path(run_dir), 0,
                     json.loads((Path(run_dir) / "final.json").read_text())["wall_s"])
        with open(out.with_suffix(".jsonl"), "a") as fh:
            fh.write(json.dumps(row) + "\n")
    elif not args.report:
        for seed in (int(s) for s in args.seeds.split(",")):
            for method in args.methods.split(","):
                print(f"== {method} seed {seed} ({time.strftime('%H:%M:%S')})", flush=True)
                row = run_hand(seed, runs) if method == "hand" else run_trex(method, seed, args.minutes, runs)
                row["cpu"] = cpu_name()
                row["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                               text=True).stdout.strip()
                print(json.dumps(row), flush=True)
                with open(out.with_suffix(".jsonl"), "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines() if line.strip()]
    out.with_suffix(".md").write_text(render(rows, meta))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
