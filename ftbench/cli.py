"""`python -m ftbench`: list the tasks, or score a model (optionally with a PEFT adapter) on one.

    python -m ftbench list
    python -m ftbench eval --task sst2 --model Qwen/Qwen3-1.7B --adapter runs/<id>/nodes/3/adapter
    python -m ftbench eval --task custom --task-option train=a.jsonl --task-option dev=b.jsonl \\
        --task-option test=c.jsonl --task-option "description=..." --model <folder> --split test

Bad input (unknown task or option, train split, missing adapter, no data) exits 2 before
anything is written. The model runs through trex's evaluation engines (hf, vllm, openai),
imported only by `eval`, so `ftbench` itself needs neither torch nor trex.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ftbench import PAPER_TREX_SCORES, Example, SourceUnavailable, Split, Task, get_task, list_tasks
from ftbench.options import option_names, parse_option


class UsageError(ValueError):
    """The command line cannot be run as given; exit 2."""


# --- list -------------------------------------------------------------------------------------

def task_row(name: str) -> dict[str, str]:
    """One line of the task table; a task that cannot be built says why in `note`."""
    from ftbench import _REGISTRY

    row = {"name": name, "metric": "-", "version": "-", "paper TREX": "-", "license": "-", "source_url": "-",
           "note": ""}
    if name in PAPER_TREX_SCORES:
        row["paper TREX"] = f"{PAPER_TREX_SCORES[name]:.1f}"
    package = _REGISTRY[name].split(":")[0].rsplit(".", 1)[0]
    if importlib.util.find_spec(package) is None:
        return {**row, "note": "not available yet"}
    try:
        try:
            task = get_task(name)
        except (TypeError, ValueError, OSError):
            task, row["note"] = get_task(name, source="fixture"), "needs options (shown: source=fixture)"
    except Exception as err:   # noqa: BLE001 - a broken task is listed, not fatal
        return {**row, "note": f"cannot load: {type(err).__name__}: {err}"[:100]}
    return {**row, "metric": task.metric, "version": task.version, "license": task.license,
            "source_url": task.source_url}


CLIP = {"license": 40, "note": 70}   # long free text is cut; URLs are kept whole


def format_table(rows: list[dict[str, str]]) -> str:
    def cell(value: str, column: str = "") -> str:
        clip = CLIP.get(column, len(value))
        return value if len(value) <= clip else value[:clip - 1] + "…"

    columns = list(rows[0])
    widths = {c: max(len(c), *(len(cell(r[c], c)) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(cell(r[c], c).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_list(_: argparse.Namespace) -> int:
    print(format_table([task_row(name) for name in list_tasks(available_only=False)]))
    print("\npaper TREX: the paper's best TREX score (0-100; Qwen3-1.7B trainee, Gemini 3 Pro Researcher)")
    return 0


# --- eval -------------------------------------------------------------------------------------

def build_task(name: str, raw_options: list[str]) -> Task:
    if name not in list_tasks(available_only=False):
        raise UsageError(f"--task {name!r} is unknown; available: {', '.join(list_tasks())}")
    if name not in list_tasks():
        raise UsageError(f"--task {name!r} is registered but its module is not there yet")
    try:
        options = dict(parse_option(text) for text in raw_options)
        accepted = option_names(name)
    except (ValueError, ImportError) as err:
        raise UsageError(f"--task-option: {err}") from None
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UsageError(f"--task-option {', '.join(unknown)}: not an option of {name!r}; accepted: "
                         f"{', '.join(accepted) or 'none'}")
    try:
        return get_task(name, **options)
    except (TypeError, ValueError, OSError) as err:
        raise UsageError(f"--task {name}: {str(err).removeprefix(name + ': ')}") from None


def check_args(args: argparse.Namespace) -> None:
    if args.split not in (Split.DEV, Split.TEST):
        raise UsageError(f"--split {args.split}: evaluate on dev or test (train is what models are fine-tuned on)")
    for flag in ("limit", "batch_size", "max_new_tokens"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} {value}: must be >= 1")
    if args.engine == "openai" and not args.base_url:
        raise UsageError("--engine openai needs --base-url (e.g. http://localhost:8000/v1) and --model the served name")
    if args.adapter and not (Path(args.adapter) / "adapter_config.json").is_file():
        raise UsageError(f"--adapter {args.adapter}: not a PEFT adapter folder (no adapter_config.json)")
    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(f"--out {args.out}: {'is a folder' if out.is_dir() else 'its folder does not exist'}")


def make_engine(args: argparse.Namespace) -> Any:
    """The evaluation engine for --engine, with the adapter applied; UsageError if it cannot start."""
    try:
        if args.engine == "openai":
            import os

            from trex.eval.engines import OpenAIEngine

            engine = OpenAIEngine(args.base_url, args.model, api_key=os.environ.get(args.api_key_env, "EMPTY"))
            engine.set_adapter(args.adapter)
            return engine
        from trex.model.resolve import resolve_model

        path = resolve_model(args.model)
        if args.engine == "vllm":
            from trex.eval.engines import VLLMEngine

            return VLLMEngine(path, args.adapter)
        return hf_engine(path, args.adapter, args.batch_size)
    except (OSError, ValueError, RuntimeError) as err:
        raise UsageError(f"--model {args.model} ({args.engine} engine): {err}") from None


def hf_engine(path: str, adapter: str | None, batch_size: int) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trex.eval.engines import HFEngine

    on_gpu = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if on_gpu else torch.float32)
    if on_gpu:
        model = model.to("cuda")
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return HFEngine(model, tokenizer, batch_size=batch_size)


def prediction_rows(task: Task, examples: list[Example], completions: list[str]) -> list[dict[str, Any]]:
    rows = []
    for example, completion in zip(examples, completions, strict=True):
        prediction = task.extract(completion)
        rows.append({"id": example.id, "kind": example.kind, "question": example.question, "gold": example.answer,
                     "completion": completion, "prediction": prediction, "score": task.score(prediction, example)})
    return rows


def cmd_eval(args: argparse.Namespace) -> int:
    check_args(args)
    task = build_task(args.task, args.task_option)
    try:
        examples = task.load(Split(args.split))[:args.limit]
    except SourceUnavailable as err:
        raise UsageError(str(err)) from None
    engine = make_engine(args)
    completions = engine.generate([task.messages(e.question) for e in examples], args.max_new_tokens)
    rows = prediction_rows(task, examples, completions)
    Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    score = task.aggregate([r["prediction"] for r in rows], examples)
    print(f"{task.name} v{task.version} {args.split} ({len(rows)} examples): {task.metric} = {score:.4f}")
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        if example.kind:
            by_kind[example.kind].append(i)
    for kind, idx in sorted(by_kind.items()):
        part = task.aggregate([rows[i]["prediction"] for i in idx], [examples[i] for i in idx])
        print(f"  {kind} ({len(idx)}): {part:.4f}")
    print(f"predictions: {args.out}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ftbench", description="FT-Bench tasks: list them, or score a model.")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the registered tasks, their metric, version, source, license and paper score")
    ev = sub.add_parser("eval", help="score a model (and optional PEFT adapter) on a task's dev or test split")
    ev.add_argument("--task", required=True)
    ev.add_argument("--model", required=True, help="HF Hub id, local folder or builtin:<name>; with --engine "
                                                   "openai, the served model's name")
    ev.add_argument("--adapter", help="a PEFT adapter folder (e.g. runs/<id>/nodes/<n>/adapter)")
    ev.add_argument("--engine", choices=("hf", "vllm", "openai"), default="hf")
    ev.add_argument("--base-url", help="openai engine: the server, e.g. http://localhost:8000/v1")
    ev.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai engine: env var holding the key")
    ev.add_argument("--split", default="test", help="dev or test (default test)")
    ev.add_argument("--limit", type=int, help="score only the first N examples")
    ev.add_argument("--out", default="predictions.jsonl", help="per-sample predictions (JSON lines)")
    ev.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a task option (value read as YAML), repeatable: --task-option source=fixture")
    ev.add_argument("--batch-size", type=int, default=64, help="hf engine batch size")
    ev.add_argument("--max-new-tokens", type=int, default=256)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return cmd_list(args) if args.command == "list" else cmd_eval(args)
    except UsageError as err:
        print(f"ftbench: {err}", file=sys.stderr)
        return 2
