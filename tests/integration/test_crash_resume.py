"""SIGKILL the driver at random points of a real run, resume each time, and check nothing is lost
or counted twice. Tiny model, scripted LLM, real Ray and TRL."""
from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import LEARNING_RATES
from trex.tree.store import Tree

ROOT = Path(__file__).resolve().parents[2]
MAX_NODES = 7


def distinct_specs():
    """Fresh, valid specs forever (lr x epochs x rank), two per reply."""
    combos = itertools.product(LEARNING_RATES[3:], (1, 2), (4, 8, 16))
    counter = itertools.count()

    def respond(body: dict) -> str:
        specs = []
        for _ in range(2):
            lr, epochs, rank = next(combos)
            specs.append(spec_json(f"variant {next(counter)}", learning_rate=lr, epochs=epochs, lora_r=rank))
        return reply(*specs)

    return respond


def launch(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "trex.launch", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(cwd / "driver.log", "ab"),
                            start_new_session=True)


def kill_driver(proc: subprocess.Popen) -> None:
    """SIGKILL the driver alone (the crash), then clear what it had started (Ray, actors)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    subprocess.run(["pkill", "-9", "-f", f"ray.*session_.*{proc.pid}"], check=False)


def finished(run: Path) -> dict[str, tuple[str, float | None]]:
    if not (run / "tree.json").is_file():
        return {}
    tree = Tree.load(run / "tree.json")
    return {n.id: (n.status.value, n.score) for n in tree if n.done}


@pytest.mark.timeout(1200)
def test_sigkill_at_random_points_then_resume(tiny_model: Path, tmp_path: Path) -> None:
    rng = random.Random(1234)
    run = tmp_path / "crashy"
    with ScriptedEndpoint(distinct_specs()) as endpoint:
        common = ["llm=openai", f"llm.base_url={endpoint.base_url}", "llm.model=scripted",
                  "model=hf", f"model.name_or_path={tiny_model}", "tracker=none",
                  "executor.eval_batch_size=8", "executor.max_new_tokens=8", "cluster.num_cpus=2"]
        first = ["+task=math", "task.options.train_size=64", "task.options.dev_size=16",
                 "task.options.test_size=16", f"search.max_nodes={MAX_NODES}", "search.children_per_expansion=2",
                 "search.max_children=2", f"run_dir={tmp_path}", "name=crashy", *common]
        kept: dict[str, tuple[str, float | None]] = {}
        kills = 0
        for attempt in range(8):
            args = first if attempt == 0 else [f"resume={run}", *common]
            proc = launch(args, tmp_path)
            if kills < 3:
                # Kill points follow the run's progress, not the clock, so a fast machine cannot
                # finish first: after 1, 3 and 5 finished nodes, plus a random 0-3 s.
                target = 1 + 2 * kills
                while len(finished(run)) < target and proc.poll() is None:
                    time.sleep(0.1)
                deadline = time.monotonic() + rng.uniform(0, 3)
                while time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.1)
                if proc.poll() is None:
                    before = finished(run)
                    kill_driver(proc)
                    kills += 1
                    after = finished(run)
                    assert before.items() <= after.items()
                    assert kept.items() <= after.items(), "a finished node was lost or changed"
                    kept = after
                    continue
            assert proc.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-3000:]
            break
    assert kills >= 1, "the run finished before any kill; the test proved nothing"
    tree = Tree.load(run / "tree.json")
    nodes = list(tree)
    assert len(nodes) == MAX_NODES and len({n.id for n in nodes}) == MAX_NODES
    assert all(n.done for n in nodes)
    assert kept.items() <= finished(run).items()
    assert tree.root.visits == MAX_NODES, "each node must be backed up exactly once"
    for node in nodes:
        children = tree.children(node.id)
        assert node.visits == 1 + sum(c.visits for c in children)
    assert 2 <= tree.sessions <= kills + 1   # a session killed before its first save leaves no trace
    assert json.loads((run / "final.json").read_text())["stop_reason"].startswith("max_nodes")
