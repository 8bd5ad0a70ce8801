"""Resume at scale: SIGKILL the driver at N random points of one real run, resume each time, and
count the kills after which nothing finished was lost, changed or recorded twice.

Real Ray and TRL, the tiny random Llama, a scripted agent LLM. Slow (about a minute per kill on
2 cores), so not in CI; CI keeps tests/integration/test_crash_resume.py (3 kills).

    .venv/bin/python bench/kill_resume.py --kills 20 --out bench/results/kill-resume.json
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import reply, spec_json
from tests.integration.test_crash_resume import finished, kill_driver, launch
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import LEARNING_RATES
from trex.tree.store import Tree


def many_specs():  # type: ignore[no-untyped-def]
    """Two fresh, valid specs per reply, 600 in all (lr x epochs x rank x samples): enough for any run."""
    import itertools

    combos = itertools.product(LEARNING_RATES, (1, 2), (4, 8, 16, 32, 64), (16, 24, 32))
    counter = itertools.count()

    def respond(body: dict) -> str:
        specs = []
        for lr, epochs, rank, samples in itertools.islice(combos, 2):
            spec = spec_json(f"variant {next(counter)}", learning_rate=lr, epochs=epochs, lora_r=rank)
            specs.append({**spec, "data": {**spec["data"], "max_samples": samples}})
        return reply(*specs)

    return respond


def tiny_model(work: Path) -> Path:
    from transformers import AutoTokenizer

    from trex.llm.llamacpp import builtin_gguf
    from trex.model.resolve import build_tiny_llama

    gguf = builtin_gguf()
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(work / "tokenizer")
    return build_tiny_llama(str(work / "tokenizer"), work / "tiny")


def tree_problems(run: Path, max_nodes: int) -> list[str]:
    """What is wrong with a finished run's tree ([] when every node is there once, backed up once)."""
    tree = Tree.load(run / "tree.json")
    nodes = list(tree)
    problems = []
    if len(nodes) != max_nodes or len({n.id for n in nodes}) != len(nodes):
        problems.append(f"{len(nodes)} nodes, {len({n.id for n in nodes})} distinct ids, {max_nodes} expected")
    if not all(n.done for n in nodes):
        problems.append("unfinished nodes: " + ", ".join(n.id for n in nodes if not n.done))
    for n in nodes:
        if n.visits != 1 + sum(c.visits for c in tree.children(n.id)):
            problems.append(f"{n.id} has {n.visits} visits: backed up more or less than once")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--max-nodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # Kill once this many nodes have finished (plus 0-8 s): points spread over the whole run, up to
    # the last node, so every kill lands before the run ends.
    targets = sorted(rng.randint(0, args.max_nodes - 1) for _ in range(args.kills))
    work = Path(tempfile.mkdtemp(prefix="trex-kill-resume-"))
    model = tiny_model(work)
    run = work / "run"
    kills: list[dict] = []
    started = time.monotonic()
    with ScriptedEndpoint(many_specs()) as endpoint:
        common = ["llm=openai", f"llm.base_url={endpoint.base_url}", "llm.model=scripted", "model=hf",
                  f"model.name_or_path={model}", "tracker=none", "executor.eval_batch_size=8",
                  "executor.max_new_tokens=8", "cluster.num_cpus=2"]
        first = ["+task=math", "task.options.train_size=64", "task.options.dev_size=16", "task.options.test_size=16",
                 f"search.max_nodes={args.max_nodes}", "search.children_per_expansion=2", "search.max_children=4",
                 "search.max_minutes=600", f"run_dir={work}", "name=run", *common]
        kept: dict = {}
        code = None
        while True:
            proc = launch(first if not (run / "tree.json").is_file() else [f"resume={run}", *common], work)
            if len(kills) < args.kills:
                session = time.monotonic()
                while len(finished(run)) < targets[len(kills)] and proc.poll() is None:
                    time.sleep(0.05)
                deadline = time.monotonic() + rng.uniform(0, 8)
                while time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.05)
                delay = time.monotonic() - session
                if proc.poll() is None:
                    before = finished(run)
                    kill_driver(proc)
                    after = finished(run)
                    lost = sorted(k for k in kept if k not in after)
                    changed = sorted(k for k in kept if k in after and after[k] != kept[k])
                    kills.append({"at_s": round(delay, 1), "finished_before": len(before), "finished_after": len(after),
                                  "lost": lost, "changed": changed, "ok": not lost and not changed})
                    print(f"kill {len(kills)}: {delay:.1f}s into the session, {len(after)}/{args.max_nodes} finished, "
                          f"lost {lost or 'nothing'}, changed {changed or 'nothing'}", flush=True)
                    kept = {**kept, **after}
                    continue
            code = proc.wait(timeout=3600)
            break
    problems = tree_problems(run, args.max_nodes) if code == 0 else [f"the last session exited {code}"]
    problems += [f"finished node {k} lost or changed" for k, v in kept.items() if finished(run).get(k) != v]
    report = {"machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
              "kills": len(kills), "kills_without_loss": sum(k["ok"] for k in kills),
              "final_tree_problems": problems, "sessions": Tree.load(run / "tree.json").sessions,
              "nodes": args.max_nodes, "wall_min": round((time.monotonic() - started) / 60, 1), "per_kill": kills}
    print(json.dumps({k: v for k, v in report.items() if k != "per_kill"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
