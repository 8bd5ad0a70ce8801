"""Wire a validated RunConfig into a search: run folder, model, Ray, LLM endpoint, executors."""
from __future__ import annotations

import logging
import os
import signal
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import cast

import ray

import ftbench
from trex import storage
from trex.agent.researcher import Researcher
from trex.agent.sources import rules_for_task
from trex.agent.tools import ResearchTools
from trex.config import ConfigError, RunConfig
from trex.data.llm_ops import DataLLM
from trex.execute.executor import ExecutorSettings
from trex.execute.pool import Demand, ExecutorPool
from trex.llm.client import LLMClient, Prices, StructuredMode
from trex.llm.llamacpp import LlamaCppServer, builtin_gguf
from trex.llm.supervisor import Supervisor
from trex.model.resolve import resolve_model
from trex.preflight import preflight
from trex.progress import Budgets, Progress
from trex.prompts import TaskCard
from trex.search.contracts import Pool
from trex.search.core import Outcome, Search
from trex.search.loop import Loop, Timeouts
from trex.search.planner import Numeric, Planner
from trex.search.sampler import NumericSampler
from trex.search.space import Space
from trex.track.base import NoTracker, Tracker
from trex.track.html_report import ReportWriter
from trex.track.live import board_actor
from trex.tree.store import Tree, write_json

log = logging.getLogger(__name__)


def make_run_dir(cfg: RunConfig) -> Path:
    name = cfg.name or f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.task.name}"
    run_dir = Path(cfg.run_dir).resolve() / name
    if run_dir.exists():
        raise ConfigError(f"run folder {run_dir} already exists; choose another name= or resume={run_dir}")
    run_dir.mkdir(parents=True)
    return run_dir


def open_run(cfg: RunConfig) -> tuple[Path, Tree | None]:
    """A new run folder, or the resumed one with its tree (None when starting fresh). A run resumed
    from its storage URI gets its records copied into run_dir/<run name> first."""
    if not cfg.resume:
        return make_run_dir(cfg), None
    if storage.is_uri(cfg.resume):
        run_dir = Path(cfg.run_dir).resolve() / cfg.resume.partition("?")[0].rstrip("/").rsplit("/", 1)[-1]
        count = storage.download_records(cfg.resume, run_dir)
        log.info("resume: %d record file(s) copied from %s to %s", count, cfg.resume, run_dir)
    else:
        run_dir = Path(cfg.resume).resolve()
    if not (run_dir / "tree.json").is_file():
        raise ConfigError(f"resume={cfg.resume!r}: no tree.json in that folder, nothing to resume")
    tree = Tree.load(run_dir / "tree.json")
    tree.sessions += 1
    log.info("resuming %s (session %d): %d node(s), %.1f min spent", run_dir, tree.sessions, len(tree),
             tree.spent_s / 60)
    return run_dir, tree


def run_location(cfg: RunConfig, run_dir: Path) -> str | None:
    """The run's folder in `storage` (None: everything stays in run_dir, a local or shared disk)."""
    if cfg.resume and storage.is_uri(cfg.resume):
        return cfg.resume
    if cfg.storage is None:
        return None
    return storage.join(cfg.storage if storage.is_uri(cfg.storage) else str(Path(cfg.storage).resolve()), run_dir.name)


def start_ray(cfg: RunConfig) -> None:
    env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                                      "TREX_CACHE", "TREX_FAULTS", "WANDB_MODE") if k in os.environ}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if ray.is_initialized():
        return
    if cfg.cluster.kind == "local":
        ray.init(address="local", num_cpus=cfg.cluster.num_cpus or os.cpu_count(), include_dashboard=False,
                 runtime_env={"env_vars": env}, log_to_driver=True)
    else:
        ray.init(address=cfg.cluster.address, runtime_env={"env_vars": env})


def llm_threads(cfg: RunConfig) -> int:
    """llama.cpp's threads: the configured number, or the cores this machine's executors leave free
    (at least 1). Its threads wait on each other at every step, so one sharing a core with a
    trainer stalls all of them: beside one busy core, 2 threads ran ~100x slower than 1."""
    if cfg.llm.n_threads:
        return cfg.llm.n_threads
    cores = cfg.cluster.num_cpus or os.cpu_count() or 1
    if cfg.cluster.kind != "local":
        return max(1, min(4, cores // 2))
    busy = cfg.search.max_concurrent * max(1, cfg.executor.cpus_per_executor)
    return max(1, min(8, cores - busy))


def stop_on_sigterm(signum: int, frame: object) -> None:
    """A scheduler's stop (Kubernetes, Slurm: SIGTERM) takes the Ctrl-C path: running nodes are
    re-queued and the tree saved for resume."""
    raise KeyboardInterrupt


def make_client(cfg: RunConfig, stack: ExitStack, run_dir: Path) -> tuple[LLMClient, Supervisor | None]:
    """The agent LLM's client, and the supervisor of the server trex started for it (if any)."""
    llm, supervisor = cfg.llm, None
    if llm.backend == "llamacpp":
        gguf = Path(llm.gguf) if llm.gguf else builtin_gguf()
        server = stack.enter_context(LlamaCppServer(gguf, llm.model, n_ctx=llm.n_ctx, n_threads=llm_threads(cfg),
                                                    log_path=run_dir / "llm-server.log",
                                                    startup_timeout_s=llm.startup_timeout_s,
                                                    max_restarts=llm.max_restarts))
        base_url, mode, key, supervisor = server.base_url, StructuredMode.LLAMACPP, "not-needed", server.supervisor
    elif llm.backend == "vllm":
        from trex.llm.vllm_server import VLLMServer, settings_from

        vllm = stack.enter_context(VLLMServer(settings_from(llm), log_path=run_dir / "llm-server.log",
                                              max_restarts=llm.max_restarts))
        base_url, mode, key, supervisor = vllm.base_url, StructuredMode.JSON_SCHEMA, "not-needed", vllm.supervisor
    else:
        base_url, mode = str(llm.base_url), StructuredMode.JSON_SCHEMA
        key = os.environ.get(llm.api_key_env, "not-needed")
    if llm.structured != "auto":
        mode = StructuredMode(llm.structured)
    prices = Prices(cfg.researcher.price_per_1k_prompt, cfg.researcher.price_per_1k_completion)
    client = LLMClient(base_url, llm.model, key, mode=mode, temperature=llm.temperature,
                       max_tokens=llm.max_tokens, timeout_s=llm.timeout_s, prices=prices)
    client.check()
    return client, supervisor


def make_tracker(cfg: RunConfig, run_dir: Path) -> Tracker:
    if cfg.tracker.kind == "wandb":
        from trex.track.wandb_tracker import WandbTracker

        return WandbTracker(cfg.tracker.project, cfg.tracker.mode, run_dir, cfg.search.policy,
                            log_best_adapter=cfg.tracker.log_best_adapter, log_adapters=cfg.tracker.log_adapters)
    return NoTracker()


def executor_demand(cfg: RunConfig) -> Demand:
    """What one experiment holds. A ray_train executor only coordinates (it holds no CPU, or its
    trainers would starve); its Ray Train workers need the rest."""
    e = cfg.executor
    if e.backend == "ray_train":
        return Demand(cpus=0, gpus=0, resources=dict(e.resources), trainer_workers=e.workers,
                      worker={"CPU": e.cpus_per_worker, **({"GPU": e.gpus_per_worker} if e.gpus_per_worker else {})})
    return Demand(cpus=e.cpus_per_executor, gpus=e.gpus_per_executor, resources=dict(e.resources))


def make_researcher(cfg: RunConfig, task: ftbench.Task, client: LLMClient, run_dir: Path,
                    retry_invalid: bool) -> Researcher:
    card = TaskCard(name=task.name, metric=task.metric, description=task.description, kinds=task.kinds,
                    base_model=cfg.model.name_or_path, max_train_samples=cfg.executor.max_train_samples)
    return Researcher(client, card, cfg.search.children_per_expansion, run_dir / "llm-calls.jsonl",
                      memory_tokens=cfg.search.memory_tokens, config=cfg.researcher, rules=rules_for_task(task),
                      run_dir=run_dir, retry_invalid=retry_invalid,
                      tools=ResearchTools(getattr(task, "catalog", "")) if cfg.researcher.tools else None)


def data_llm(cfg: RunConfig, client: LLMClient) -> DataLLM:
    """The agent LLM as the synthesize / llm_score data operators call it from the executors."""
    return DataLLM(base_url=str(client.base_url), model=cfg.llm.model, mode=client.mode.value,
                   api_key_env=cfg.llm.api_key_env if cfg.llm.backend == "openai" else "",
                   temperature=cfg.llm.temperature, max_tokens=cfg.llm.max_tokens, timeout_s=cfg.llm.timeout_s)


def executor_settings(cfg: RunConfig, task: str, model_path: str, data_llm: DataLLM | None,
                      board: object = None) -> ExecutorSettings:
    return ExecutorSettings(task=task, model_path=model_path, task_options=dict(cfg.task.options), data_llm=data_llm,
                            config=cfg.executor, board=board)


def run_search(cfg: RunConfig) -> Outcome:
    """Run one whole search and write its folder; returns the outcome."""
    task = ftbench.get_task(cfg.task.name, **cfg.task.options)
    preflight(cfg, task)
    run_dir, tree = open_run(cfg)
    write_json(run_dir / "config.json", asdict(cfg))
    log.info("run folder: %s", run_dir)
    model_path = resolve_model(cfg.model.name_or_path)
    with ExitStack() as stack:
        start_ray(cfg)
        stack.callback(ray.shutdown)
        signal.signal(signal.SIGTERM, stop_on_sigterm)   # after ray.init, which installs its own handler
        researcher, llm_server, ops_llm = None, None, None
        numeric = Numeric(cfg.researcher.numeric)
        if numeric is not Numeric.SAMPLER:     # sampler mode needs no LLM at all
            client, llm_server = make_client(cfg, stack, run_dir)
            researcher = make_researcher(cfg, task, client, run_dir, retry_invalid=numeric is Numeric.LLM)
            ops_llm = data_llm(cfg, client)
        board = board_actor()
        pool = ExecutorPool(executor_settings(cfg, task.name, model_path, ops_llm, board), cfg.search.max_concurrent,
                            executor_demand(cfg), autoscale=cfg.cluster.kind == "ray")
        stack.callback(pool.shutdown)
        log.info("up to %d executor(s), each %s; proposals: %s%s", cfg.search.max_concurrent, pool.demand.total(),
                 numeric.value, f" (agent LLM {cfg.llm.model})" if researcher else " (no LLM)")
        sampler = NumericSampler(Space(max_samples=cfg.executor.max_train_samples),
                                 startup=cfg.researcher.sampler_startup)
        planner = Planner(numeric, researcher, sampler, cfg.search.children_per_expansion,
                          max_samples=cfg.executor.max_train_samples, sampler_children=cfg.researcher.sampler_children)
        artifacts = run_location(cfg, run_dir)
        report, mirror = ReportWriter(run_dir), storage.Mirror(run_dir, artifacts) if artifacts else None

        def saved() -> None:
            report()                   # report.html first, so the mirror carries it
            if mirror is not None:
                mirror()

        search = Search(cfg.search, planner, run_dir=run_dir, metric=task.metric, task_version=task.version,
                        tracker=make_tracker(cfg, run_dir),
                        reference_score=cfg.task.reference_score, max_train_samples=cfg.executor.max_train_samples,
                        tree=tree, requeue_lost=cfg.cluster.on_executor_lost == "requeue", llm=llm_server,
                        artifacts=artifacts, on_save=saved)
        budgets = Budgets(cfg.search.max_nodes, cfg.search.max_minutes, cfg.search.max_device_hours,
                          cfg.search.max_llm_tokens)
        with Progress(budgets, search.tree.spent_s, board=board, on_records=search.tracker.log_steps) as progress:
            # ExecutorPool's handles are Ray ObjectRefs, the Pool protocol's any Hashable
            loop = Loop(search, cast(Pool, pool),
                        timeouts=Timeouts(cfg.executor.node_timeout_s, cfg.executor.eval_timeout_s),
                        wait_for_resources_s=cfg.cluster.wait_for_resources_s,
                        on_change=lambda: progress.update(search.tree, len(search.promoting)))
            outcome = loop.run()
    log.info("done (%s): best dev %s; summary at %s, report at %s", outcome.stop_reason,
             f"{best.score:.3f}" if (best := outcome.tree.best()) else "-", run_dir / "summary.md",
             (run_dir / "report.html").resolve().as_uri())
    return outcome
