"""Per-step cost of the search's own bookkeeping: `select("uct", ...)` + `build_memory(...)`.

Big trees are grown directly with the surface (no event simulation): each new node is a
random proposer edit of a parent drawn from the expandable nodes (succeeded, < 3 children),
and is recorded at once; the last `in_flight` nodes are left running, as in a live search.
Parents are drawn uniformly ("bushy" trees, depth ~ log n) or, with probability 0.9, among
the 8 newest expandable nodes ("deep" trees, like long greedy chains).
"""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

from bench.search.proposer import baseline_spec, perturb, spec_key
from bench.search.simulate import node_rng, result_of
from bench.search.surface import Adapter, score
from trex.tree.memory import build_memory
from trex.tree.policy import PolicySettings, normalize_reward, select
from trex.tree.store import Tree


def grow_tree(n: int, seed: int = 0, shape: str = "bushy", in_flight: int = 4, max_children: int = 3) -> Tree:
    """A tree of `n` nodes (root included) whose last `in_flight` nodes are still running."""
    rng = random.Random(seed)
    tree = Tree("timing")
    root = tree.add(baseline_spec(), None, 0.0)
    outcome = score(root.spec, None, node_rng(seed, 0), train=False)
    tree.record(root.id, result_of(outcome), normalize_reward(outcome.score, 0.0, 1.0), 0.0)
    adapters: dict[str, Adapter | None] = {root.id: None}
    open_ids: list[str] = [root.id]          # expandable, newest last
    known = {spec_key(root.spec, None)}
    clock = 0.0
    while len(tree) < n:
        if not open_ids:
            raise RuntimeError("no expandable node left; every leaf failed")
        if shape == "deep" and rng.random() < 0.9:
            idx = len(open_ids) - 1 - rng.randrange(min(8, len(open_ids)))
        else:
            idx = rng.randrange(len(open_ids))
        parent_id = open_ids[idx]
        spec = perturb(tree[parent_id].spec, rng, is_root=parent_id == root.id)
        if spec is None or spec_key(spec, parent_id) in known:
            continue
        known.add(spec_key(spec, parent_id))
        clock += 1.0
        node = tree.add(spec, parent_id, clock)
        if tree.n_children(parent_id) >= max_children:
            open_ids.pop(idx)
        if len(tree) > n - in_flight:
            tree.mark_running(node.id, clock)
            continue
        out = score(spec, adapters[parent_id], node_rng(seed, len(tree)), train=True)
        reward = normalize_reward(out.score, 0.0, 1.0, base=tree.root.score)
        tree.mark_running(node.id, clock)
        tree.record(node.id, result_of(out), reward, clock)
        adapters[node.id] = out.adapter
        if out.score is not None:
            open_ids.append(node.id)
    return tree


@dataclass(frozen=True)
class StepTiming:
    nodes: int
    shape: str
    depth: int
    select_ms: float
    memory_ms: float
    step_ms: float          # median of select + build_memory measured together
    step_cpu_ms: float      # the same, in process CPU time (less sensitive to a busy machine)
    memory_lines: int
    memory_tokens: int


def time_step(tree: Tree, shape: str, repeats: int = 21, budget_tokens: int = 1500) -> StepTiming:
    """Medians over `repeats` calls of select("uct") alone, build_memory alone, and both in a row."""
    settings = PolicySettings()
    sel, mem, both, cpu = [], [], [], []
    target = ""
    for i in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        target = select("uct", tree, settings, seed=i) or tree.root.id
        t1 = time.perf_counter()
        ctx = build_memory(tree, target, budget_tokens)
        t2 = time.perf_counter()
        cpu.append(time.process_time() - c0)
        sel.append(t1 - t0)
        mem.append(t2 - t1)
        both.append(t2 - t0)
    text = ctx.render()
    lines = len(ctx.trajectory) + len(ctx.siblings) + len(ctx.key_nodes)
    return StepTiming(len(tree), shape, max(n.depth for n in tree), 1e3 * statistics.median(sel),
                      1e3 * statistics.median(mem), 1e3 * statistics.median(both),
                      1e3 * statistics.median(cpu), lines, len(text) // 4 + 1)


def profile_step(tree: Tree, top: int = 12) -> str:
    """cProfile text of 10 select + build_memory steps (where the time goes)."""
    import cProfile
    import io
    import pstats
    prof = cProfile.Profile()
    prof.enable()
    for i in range(10):
        build_memory(tree, select("uct", tree, PolicySettings(), seed=i) or tree.root.id)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()
