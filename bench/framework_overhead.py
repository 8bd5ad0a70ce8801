"""trex's executor vs a bare TRL script on the same node, side by side; and what the data cache saves.

    python bench/framework_overhead.py --model ~/.cache/trex/models/smollm2-135m-instruct [--rounds 2]

Each round runs, one after another on the same machine: the node through a warm trex executor
actor (Ray; what the driver does for every node), bench/bare_trl_node.py with the same kernels
(orchestration is the only difference), and bench/bare_trl_node.py --stock (TRL and transformers
as they come). Ratios are of medians over rounds. Then the same spec again through trex: its
recipe is in the data cache, so its data phase is the cached one. Prints JSON; --out saves it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bare(model: str, samples: int, dev: int, stock: bool) -> dict:
    cmd = [sys.executable, str(Path(__file__).with_name("bare_trl_node.py")), "--model", model,
           "--samples", str(samples), "--dev", str(dev)] + (["--stock"] if stock else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", type=int, default=96)
    ap.add_argument("--dev", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()

    import ray

    from trex.execute.executor import ExecutorSettings, Job
    from trex.execute.pool import Demand, ExecutorPool
    from trex.tree.records import DataRecipe, Direction, ExperimentSpec

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    from trex.config import ExecutorConfig

    settings = ExecutorSettings(task="math", model_path=args.model,
                                config=ExecutorConfig(eval_batch_size=64, max_new_tokens=48),
                                task_options={"train_size": max(256, args.samples), "dev_size": args.dev})
    pool = ExecutorPool(settings, 1, Demand(cpus=1))
    spec = ExperimentSpec(objective="overhead", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=args.samples))
    work = Path(tempfile.mkdtemp())

    def trex_node(name: str, data_seed: int) -> dict:
        started = time.monotonic()
        ref = pool.submit(Job(node_id=name, spec=spec, node_dir=str(work / name), seed=0, data_seed=data_seed))
        result = ray.get(ref)
        pool.release(ref, actor_died=False)
        assert result.status.value == "SUCCEEDED", result.error
        return {"variant": "trex", "wall_s": round(time.monotonic() - started, 2),
                "data_s": round(result.cost.data_s, 3),
                "train_s": round(result.cost.train_s, 2), "eval_s": round(result.cost.eval_s, 2),
                "data_cached": bool(result.metrics["data_cached"]), "score": result.score}

    runs: list[dict] = []
    seed = int(time.time())          # a fresh recipe key: the first build in each round is cold
    for r in range(args.rounds):
        runs.append({"round": r, **trex_node(f"n{r:04d}", seed + r)})
        runs.append({"round": r, **bare(args.model, args.samples, args.dev, stock=False)})
        runs.append({"round": r, **bare(args.model, args.samples, args.dev, stock=True)})
        print(json.dumps(runs[-3:]), file=sys.stderr, flush=True)
    cached = trex_node("cached", seed)
    pool.shutdown()
    ray.shutdown()
    heavy = heavy_recipe_cache(work)

    def median(variant: str, key: str = "wall_s") -> float:
        return statistics.median(r[key] for r in runs if r["variant"] == variant)

    cold = [r["data_s"] for r in runs if r["variant"] == "trex"]
    report = {
        "machine": _machine(), "samples": args.samples, "dev": args.dev, "rounds": args.rounds, "runs": runs,
        "trex_over_bare_same_kernels": round(median("trex") / median("bare-same-kernels"), 3),
        "trex_over_bare_stock": round(median("trex") / median("bare-stock"), 3),
        "data_cache": {"cold_data_s": round(statistics.median(cold), 3), "cached_data_s": cached["data_s"],
                       "cached_hit": cached["data_cached"],
                       "saved_s": round(statistics.median(cold) - cached["data_s"], 3),
                       "heavy_recipe": heavy},
    }
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


def heavy_recipe_cache(work: Path) -> dict:
    """A recipe that costs something to build (4,000 problems, MinHash near-dedup, decontamination,
    2,000 kept): seconds of the cold build, then of the cached load of the same recipe."""
    from ftbench import get_task
    from trex.data.recipe import build_sft_dataset
    from trex.tree.records import DataRecipe, DecontaminateOp, DedupOp

    task = get_task("math", train_size=4000)
    recipe = DataRecipe(max_samples=2000, ops=[DedupOp(near=True), DecontaminateOp()])
    seed, out = int(time.time()), {}
    for name in ("cold_s", "cached_s"):
        started = time.monotonic()
        built = build_sft_dataset(task, recipe, seed, work / "cache")
        out[name] = round(time.monotonic() - started, 3)
        out[f"{name.split('_')[0]}_hit"] = built.cached
    out["rows"] = len(built.dataset)
    return out


def _machine() -> str:
    import os
    import platform

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{model}, {os.cpu_count()} cores, no GPU"


if __name__ == "__main__":
    main()
