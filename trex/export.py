"""Taking a node away: `trex export` writes its adapter (or, with merge, a full model), the
tokenizer, a model card and a recipe; `trex reproduce` trains the recipe again from scratch.

A recipe is the chain of specs the node's adapter was trained through (a warm start continues
its parent's adapter, so the chain reaches back to the first node trained from the base model),
with the seeds the search gave each one, the task and model, and the executor settings.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trex import storage
from trex.config import ExecutorConfig, saved_config
from trex.track.html_report import test_score
from trex.tree.describe import metric_name, score_text, spec_line
from trex.tree.records import ExperimentSpec, InitFrom, Node, NodeStatus
from trex.tree.store import Tree

log = logging.getLogger(__name__)

BUILTIN_BASES = {"builtin:smollm2-135m-instruct": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")}


class ExportError(ValueError):
    """A run or node that cannot be exported, with what to do instead."""


@dataclass(frozen=True)
class Picked:
    run_dir: Path
    config: dict[str, Any]
    tree: Tree
    node: Node


def pick(run: str | Path, which: str = "best") -> Picked:
    """The run's config and tree, and the node `which` names (`best` or a node id)."""
    run_dir = Path(run)
    if not (run_dir / "tree.json").is_file():
        raise ExportError(f"{run_dir} is not a trex run folder (no tree.json)")
    config = json.loads(saved_config(str(run_dir)))
    tree = Tree.load(run_dir / "tree.json")
    node = tree.best() if which == "best" else next((n for n in tree if n.id == which), None)
    if node is None:
        known = ", ".join(n.id for n in tree)
        raise ExportError(f"no node {which!r} in {run_dir} (nodes: {known}; or `best`)")
    if node.status is not NodeStatus.SUCCEEDED:
        raise ExportError(f"{node.id} is {node.status.value}, not a trained model to export")
    if node.parent_id is None:
        raise ExportError(f"{node.id} is the base model itself (nothing was fine-tuned); pick a trained node")
    return Picked(run_dir, config, tree, node)


def chain(tree: Tree, node: Node) -> list[Node]:
    """The nodes whose training the node's adapter holds, oldest first."""
    steps = [node]
    while steps[0].spec.train.init_from is InitFrom.PARENT and steps[0].parent_id is not None:
        parent = tree[steps[0].parent_id]
        if parent.parent_id is None:      # the root: a warm start from the base model is a fresh start
            break
        steps.insert(0, parent)
    return steps


def recipe(p: Picked, out: Path) -> dict[str, Any]:
    """The node as a recipe `trex reproduce` can train again."""
    seed = int(p.config["search"].get("seed", 0))
    return {
        "trex_recipe": 1,
        "node": p.node.id, "run": p.run_dir.name,
        "task": p.config["task"], "model": p.config["model"]["name_or_path"],
        "executor": p.config["executor"],
        "dev_score": p.node.score, "test_score": test_score(p.run_dir, p.node),
        "steps": [{"node": n.id, "seed": seed + int(n.id[1:]), "data_seed": seed,
                   "spec": n.spec.model_dump(mode="json")} for n in chain(p.tree, p.node)],
        "command": f"trex reproduce {out / 'recipe.yaml'} --out <folder>",
    }


def fetch_adapter(location: str, into: Path) -> Path:
    """The node's adapter folder copied (or downloaded from storage) to `into`."""
    if storage.is_uri(location):
        return storage.download(location, into)
    if not (Path(location) / "adapter_config.json").is_file():
        raise ExportError(f"the adapter at {location} is gone (no adapter_config.json)")
    shutil.copytree(location, into, dirs_exist_ok=True)
    return into


def model_card(p: Picked, rec: dict[str, Any], merged: bool) -> str:
    base_id, license_id = BUILTIN_BASES.get(rec["model"], (rec["model"], "other"))
    metric = metric_name([p.node.result])
    root = p.tree.root
    front = {"base_model": base_id, "library_name": "transformers" if merged else "peft", "license": license_id,
             "tags": ["trex", "lora", p.config["task"]["name"]]}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {p.config['task']['name']}: {p.node.id} of trex run {p.run_dir.name}", "",
             f"A LoRA fine-tune of `{base_id}`{' merged into its weights' if merged else ''}, found by a trex "
             f"search over {len(p.tree)} experiments.", "",
             "## Scores", "", f"| split | {metric} | base model |", "|---|---|---|",
             f"| dev | {score_text(p.node.score)} | {score_text(root.score)} |",
             f"| test | {score_text(rec['test_score'])} | {score_text(test_score(p.run_dir, root))} |", "",
             "## Lineage", ""]
    for n in p.tree.lineage(p.node.id):
        change = f" — {spec_line(n.spec)}" if n.parent_id else ""
        lines.append(f"- `{n.id}` ({score_text(n.score)}): {n.spec.objective}{change}")
    lines += ["", "## Recipe", "", "`recipe.yaml` holds the training chain (each spec with its seeds). Train it "
              "again with:", "", "```bash", rec["command"], "```", "",
              "## License", "", f"The weights follow the base model's license (`{license_id}`)."
              + (" Check the base model's card." if license_id == "other" else ""), ""]
    if p.node.result and p.node.result.fidelity < 1.0:
        lines.insert(-4, f"Note: this node was scored at fidelity {p.node.result.fidelity:.2f} (part of its "
                         "training budget); the recipe trains it in full.")
    return "\n".join(lines)


def export(run: str | Path, out: Path, which: str = "best", merge: bool = False,
           push_to_hub: str | None = None) -> Path:
    """Write the node's adapter (or merged model), tokenizer, README.md and recipe.yaml to `out`."""
    from transformers import AutoTokenizer

    from trex.model.resolve import resolve_model

    p = pick(run, which)
    if push_to_hub:
        hub_ready()
    if p.node.result is None or not p.node.result.adapter_path:
        raise ExportError(f"{p.node.id} has no adapter recorded")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty; choose a new folder")
    base_path = resolve_model(p.config["model"]["name_or_path"])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = fetch_adapter(p.node.result.adapter_path, Path(tmp) / "adapter")
        if merge:
            from peft import PeftModel
            from transformers import AutoModelForCausalLM

            model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), str(adapter))
            model.merge_and_unload().save_pretrained(out)
        else:
            config = json.loads((adapter / "adapter_config.json").read_text())
            config["base_model_name_or_path"] = BUILTIN_BASES.get(p.config["model"]["name_or_path"],
                                                                  (p.config["model"]["name_or_path"],))[0]
            shutil.copytree(adapter, out, dirs_exist_ok=True)
            (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    AutoTokenizer.from_pretrained(base_path).save_pretrained(out)
    rec = recipe(p, out)
    (out / "recipe.yaml").write_text(yaml.safe_dump(rec, sort_keys=False))
    (out / "README.md").write_text(model_card(p, rec, merge))
    log.info("exported %s of %s to %s", p.node.id, p.run_dir, out)
    if push_to_hub:
        push(out, push_to_hub)
    return out


def hub_ready() -> None:
    import os

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        raise ExportError("--push-to-hub needs the Hub, but HF_HUB_OFFLINE is set: unset it and log in "
                          "(`hf auth login`) first")


def push(out: Path, repo_id: str) -> str:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True, private=True)
    api.upload_folder(folder_path=str(out), repo_id=repo_id, commit_message="trex export")
    return f"https://huggingface.co/{repo_id}"


def reproduce(recipe_path: Path, out: Path) -> dict[str, float | None]:
    """Train the recipe's chain again (in this process, on this machine's devices) and score the
    result on dev and test; the adapter and predictions land in `out`."""
    from ftbench.base import Split
    from trex.execute.executor import Executor, ExecutorSettings
    from trex.model.resolve import resolve_model
    from trex.search.contracts import Job

    rec = yaml.safe_load(recipe_path.read_text())
    if not isinstance(rec, dict) or rec.get("trex_recipe") != 1:
        raise ExportError(f"{recipe_path} is not a trex recipe (written by `trex export`)")
    executor = Executor(ExecutorSettings(task=rec["task"]["name"], model_path=resolve_model(rec["model"]),
                                         task_options=dict(rec["task"].get("options") or {}),
                                         config=ExecutorConfig(**rec["executor"])))
    adapter, result = None, None
    for step in rec["steps"]:
        spec = ExperimentSpec.model_validate(step["spec"])
        node_dir = out / step["node"]
        result = executor.run(Job(node_id=step["node"], spec=spec, node_dir=str(node_dir), seed=step["seed"],
                                  data_seed=step["data_seed"],
                                  parent_adapter=adapter if spec.train.init_from is InitFrom.PARENT else None))
        if result.status is not NodeStatus.SUCCEEDED:
            raise RuntimeError(f"step {step['node']} failed: {result.error}")
        adapter = result.adapter_path
        log.info("step %s: dev %s", step["node"], score_text(result.score))
    last = rec["steps"][-1]
    test = executor.run(Job(node_id=last["node"], spec=ExperimentSpec.model_validate(last["spec"]),
                            node_dir=str(out / last["node"]), seed=last["seed"], train=False, split=Split.TEST,
                            adapter=adapter))
    return {"dev": result.score if result else None, "test": test.score,
            "recorded_dev": rec.get("dev_score"), "recorded_test": rec.get("test_score")}
