"""Launch preconditions, checked before the run folder is written and before Ray or an LLM server starts.

`preflight` runs the checks cheapest first (output folder, data files, model, llama.cpp, LLM
endpoint, Ray address) and stops at the first failure with a one-line ConfigError naming the value
and what to do, so the message stays one line and a local mistake never waits on a network
timeout. Network checks are bounded (ENDPOINT_TIMEOUT_S, HUB_TIMEOUT_S, RAY_TIMEOUT_S).
"""
from __future__ import annotations

import http.client
import importlib.util
import json
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import ftbench
from ftbench.offline import offline_variable
from trex import storage
from trex.config import ClusterConfig, ConfigError, LLMConfig, RunConfig
from trex.grpc_probe import CLIENT_PATH, GCS_PATH, grpc_problem
from trex.model.resolve import BUILTIN_PREFIX, BUILTINS

log = logging.getLogger(__name__)

ENDPOINT_TIMEOUT_S, HUB_TIMEOUT_S, RAY_TIMEOUT_S = 10.0, 10.0, 15.0
RAY_GCS_PORT, RAY_CLIENT_PORT = 6379, 10001   # the defaults of `ray start --head` and of ray://
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
LLAMACPP_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
_ADDRESS = re.compile(r"^(?:ray://)?(\[[^\]]+\]|[^:/\[\]]+)(?::(\d+))?/?$")


def check_task_and_engines(cfg: RunConfig, task: ftbench.Task) -> None:
    """The task's dev data loads; the evaluation engine, QLoRA and vLLM server can run here."""
    try:
        task.load(ftbench.Split.DEV)
    except ftbench.SourceUnavailable as err:
        raise ConfigError(str(err)) from None
    if getattr(task, "split_mode", "") == "official":
        log.warning("task %s (version %s) is scored on its whole official test set and has no training split: "
                    "experiments must train on other sources (a Hub dataset, files, synthesis; the Researcher's "
                    "tools search for them); task.split_mode=carve trains on a carve of the test set instead",
                    task.name, task.version)
    if cfg.executor.engine == "vllm":
        from trex.eval.engines import require_vllm

        try:
            require_vllm()
        except RuntimeError as err:
            raise ConfigError(f"executor.engine=vllm: {err}") from None
    if cfg.executor.quantization == "nf4":
        if cfg.executor.backend == "ray_train":
            raise ConfigError("executor.quantization=nf4 (QLoRA) runs with executor.backend=inprocess only")
        if cfg.cluster.kind == "local":
            import importlib.util

            import torch

            if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
                raise ConfigError("executor.quantization=nf4 (QLoRA) needs a CUDA GPU and bitsandbytes "
                                  "(pip install -e .[gpu]); use executor.quantization=none on this machine")
    if cfg.llm.backend == "vllm" and cfg.cluster.kind == "local":   # on a cluster the server's actor checks
        import torch

        from trex.llm.vllm_server import vllm_problems

        problems = vllm_problems(torch.cuda.device_count(), cfg.llm.tensor_parallel_size)
        if problems:
            raise ConfigError(f"llm=vllm: {'; '.join(problems)}; or use llm=llamacpp / llm=openai")


def preflight(cfg: RunConfig, task: ftbench.Task) -> None:
    """Raise ConfigError (one line) at the first precondition of `cfg` that does not hold; `task` is
    the built task."""
    check_task_and_engines(cfg, task)
    check_output(cfg)
    check_data(cfg.task.options)
    check_model(cfg.model.name_or_path)
    if cfg.llm.backend == "llamacpp":
        check_llamacpp(cfg.llm)
    elif cfg.llm.backend == "openai":
        check_endpoint(cfg.llm)
    if cfg.cluster.kind == "ray":
        check_ray(cfg.cluster)


def unwritable(path: Path) -> str | None:
    """Why a folder could not be created or written at `path`, or None when it can (writes nothing)."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user"
    return None


def check_output(cfg: RunConfig) -> None:
    """The run folder's parent (run_dir), or the resumed folder, must be writable (a run resumed
    from storage is copied into run_dir)."""
    key, value = ("resume", cfg.resume) if cfg.resume and not storage.is_uri(cfg.resume) else ("run_dir", cfg.run_dir)
    if problem := unwritable(Path(str(value)).resolve()):
        raise ConfigError(f"{key}={value!r}: {problem}; choose a folder you can write ({key}=<folder>)")


def check_data(options: dict[str, Any]) -> None:
    """Every data file the task options name (by suffix) exists and parses."""
    from ftbench.custom.task import read_table
    from ftbench.source import UnreadableFile

    files = {k: Path(v).expanduser() for k, v in options.items() if isinstance(v, str) and v.endswith(DATA_SUFFIXES)}
    for key, path in files.items():
        if not path.is_file():
            raise ConfigError(f"task.{key}={str(path)!r}: no such file; give a {', '.join(DATA_SUFFIXES)} file")
        try:
            read_table(path)
        except UnreadableFile as err:
            where = f" {err.where}" if err.where else ""
            raise ConfigError(f"task.{key}={err.path!r}{where}: {err.detail}; fix the file or give another") from None


def check_model(name_or_path: str) -> None:
    """A built-in, a local HF model folder, or a Hub id that can be had (cached, or on a reachable Hub)."""
    key = f"model.name_or_path={name_or_path!r}"
    if name_or_path.startswith(BUILTIN_PREFIX):
        check_builtin(name_or_path, key)
        return
    path = Path(name_or_path).expanduser()
    if path.exists():
        check_model_folder(path, key)
        return
    if not is_hub_id(name_or_path):
        raise ConfigError(f"{key}: no such folder; give a Hugging Face model folder (with config.json), "
                          f"a Hub id such as Qwen/Qwen3-1.7B, or {BUILTIN_PREFIX}{min(BUILTINS)}")
    check_hub_model(name_or_path, key)


def check_builtin(name_or_path: str, key: str) -> None:
    from trex.llm.llamacpp import builtin_gguf

    name = name_or_path[len(BUILTIN_PREFIX):]
    if name not in BUILTINS:
        builtins = ", ".join(BUILTIN_PREFIX + b for b in sorted(BUILTINS))
        raise ConfigError(f"{key}: unknown built-in model; built-ins: {builtins}")
    try:
        builtin_gguf()
    except FileNotFoundError as err:
        raise ConfigError(f"{key}: {err}; or give a local model folder or a Hub id") from None


def has_weights(folder: Path) -> bool:
    return any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS)


def missing_model_files(folder: Path) -> list[str]:
    """What an HF model folder lacks for trex to load it (empty: nothing)."""
    present = {"config.json": (folder / "config.json").is_file(),
               "weights (*.safetensors or pytorch_model*.bin)": has_weights(folder),
               "tokenizer (tokenizer.json)": any((folder / name).is_file() for name in TOKENIZER_FILES)}
    return [name for name, ok in present.items() if not ok]


def check_model_folder(path: Path, key: str) -> None:
    if not path.is_dir():
        raise ConfigError(f"{key}: {path} is a file, not a model folder; give the folder save_pretrained() wrote")
    if missing := missing_model_files(path):
        held = sorted(p.name for p in path.iterdir())
        holds = ", ".join(held[:6]) + (", ..." if len(held) > 6 else "") if held else "nothing"
        raise ConfigError(f"{key}: not a Hugging Face model folder: no {', no '.join(missing)} "
                          f"(it holds: {holds}); give the folder save_pretrained() wrote")


def is_hub_id(name: str) -> bool:
    """Whether `name` could be a Hub model id ("name" or "org/name"), not a filesystem path."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith((".", "~", os.sep)) and name.count("/") <= 1


def cache_problem(repo_id: str) -> str | None:
    """None when the Hub model's config and weights are in the local HF cache, else what is wrong."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(config, str):
        return "not in the local Hugging Face cache"
    if not has_weights(Path(config).parent):
        return "in the local Hugging Face cache without its weights"
    return None


def check_hub_model(repo_id: str, key: str) -> None:
    """Cached: fine. Offline and not cached: fail. Online: ask the Hub, bounded by HUB_TIMEOUT_S."""
    problem = cache_problem(repo_id)
    if problem is None:
        return
    download = f"download it first (hf download {repo_id}) or give a local folder"
    if offline := offline_variable():
        raise ConfigError(f"model {repo_id} is {problem} and {offline}=1: {download}")
    from huggingface_hub import model_info
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:   # also private and gated ones the token cannot see
        raise ConfigError(f"{key}: no such model on the Hugging Face Hub (or it is private: hf auth login); "
                          "check the id or give a local folder") from None
    except Exception as err:   # noqa: BLE001 - any transport failure means the Hub is unreachable
        raise ConfigError(f"model {repo_id} is {problem} and the Hugging Face Hub is unreachable "
                          f"({type(err).__name__}); {download}") from None


def check_llamacpp(llm: LLMConfig) -> None:
    """llama-cpp-python[server] is installed, built portably, and the GGUF exists."""
    if missing := [m for m in LLAMACPP_SERVER_MODULES if importlib.util.find_spec(m) is None]:
        raise ConfigError(f"llm=llamacpp needs llama-cpp-python[server] (missing: {', '.join(missing)}): "
                          "install the cpu extra (pip install -e .[cpu]), or use llm=openai llm.base_url=<server>")
    if llm.gguf:
        gguf, key = Path(llm.gguf), f"llm.gguf={llm.gguf!r}"
    else:
        from trex.llm.llamacpp import builtin_gguf

        key = "llm.gguf=null (the built-in model)"
        try:
            gguf = builtin_gguf()
        except FileNotFoundError as err:
            raise ConfigError(f"{key}: {err}; or set llm.gguf=<file.gguf>") from None
    if not gguf.is_file():
        raise ConfigError(f"{key}: not a file; give a GGUF file, or null for the built-in model")
    with gguf.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ConfigError(f"{key}: not a GGUF file (it does not start with 'GGUF'); give a .gguf model")
    check_portable_build()


def check_portable_build() -> None:
    """The llama.cpp libraries hold no AVX-512/AMX code that would die with SIGILL on other CPUs
    (about 2 s of disassembly, then remembered until the libraries change)."""
    from trex.llm.portable import check_portable_cached
    from trex.model.resolve import cache_dir

    try:
        problems = check_portable_cached(cache_dir() / "llamacpp-portable.json")
    except (OSError, RuntimeError) as err:
        log.warning("the llama.cpp build could not be checked for portability (%s); install binutils "
                    "(objdump) to check it", err)
        return
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"llm=llamacpp: the installed llama.cpp build is not portable: {problems[0]}{more}; "
                          "rebuild it with GGML_NATIVE=OFF (scripts/setup.sh), or use llm=openai")


def served_models(base_url: str, api_key: str | None, timeout_s: float = ENDPOINT_TIMEOUT_S) -> list[str]:
    """The model ids GET {base_url}/models lists. Raises urllib's errors and ValueError (not a model list)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = urllib.request.Request(base_url.rstrip("/") + "/models", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body = json.loads(response.read() or b"null")
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ValueError("the answer is not an OpenAI model list")
    return [str(m.get("id")) for m in body["data"] if isinstance(m, dict)]


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", err)
    return (reason.strerror if isinstance(reason, OSError) else None) or str(reason) or type(reason).__name__


def check_endpoint(llm: LLMConfig) -> None:
    """An OpenAI-compatible server answers at llm.base_url, accepts the key and serves llm.model."""
    base = f"llm.base_url={llm.base_url}"
    key = os.environ.get(llm.api_key_env) if llm.api_key_env else None
    try:
        served = served_models(str(llm.base_url), key)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            has = f"the key in {llm.api_key_env}" if key else f"no key ({llm.api_key_env} is unset)"
            raise ConfigError(f"{base} refused {has} (HTTP {err.code}): set {llm.api_key_env} to a valid API key, "
                              "or point llm.api_key_env at the variable that holds it") from None
        raise ConfigError(f"{base}: GET /models answered HTTP {err.code}; give the server's OpenAI-compatible "
                          "URL, usually ending in /v1") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise ConfigError(f"{base} is unreachable ({_reason(err)}): start the server or fix the URL") from None
    except ValueError as err:
        raise ConfigError(f"{base}: GET /models gave no model list ({err}); is it an OpenAI-compatible "
                          "URL ending in /v1?") from None
    if served and llm.model not in served:
        listed = ", ".join(served[:10]) + (", ..." if len(served) > 10 else "")
        raise ConfigError(f"llm.model={llm.model!r} is not served at {llm.base_url}; it serves: {listed}; "
                          "set llm.model= to one of them")


def ray_temp_dir() -> Path:
    """Where `ray start` records the current cluster (Ray's own rule)."""
    if "RAY_TMPDIR" in os.environ:
        return Path(os.environ["RAY_TMPDIR"]) / "ray"
    return Path(os.environ.get("TMPDIR", "/tmp")) / "ray"


def find_ray_address(address: str) -> tuple[str | None, str]:
    """The address ray.init(address) would join, and where it came from (for messages).
    As Ray does: RAY_ADDRESS wins; `auto` reads ray_current_cluster, else a running GCS process."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}"
    if address != "auto":
        return address, ""
    current = ray_temp_dir() / "ray_current_cluster"
    if current.is_file() and (found := current.read_text().strip()):
        return found, f"from {current}: {found}"
    try:
        from ray._private.services import find_gcs_addresses

        running = sorted(find_gcs_addresses())
    except Exception:   # noqa: BLE001 - a private Ray helper; without it, only the file counts
        running = []
    if running:
        return running[0], f"a running Ray GCS at {running[0]}"
    return None, f"RAY_ADDRESS is unset, {current} does not exist and no Ray process runs here"


def host_port(address: str) -> tuple[str, int]:
    """host and port of `host[:port]`, `[v6]:port` or `ray://host[:port]`; ValueError if unreadable."""
    match = _ADDRESS.match(address)
    if not match:
        raise ValueError(address)
    default = RAY_CLIENT_PORT if address.startswith("ray://") else RAY_GCS_PORT
    return match[1].strip("[]"), int(match[2]) if match[2] else default


def check_ray(cluster: ClusterConfig) -> None:
    """A gRPC server answers at the Ray address within RAY_TIMEOUT_S (Ray itself is not started)."""
    fix = "start one with `ray start --head` or use cluster=local"
    if cluster.address == "local" and not os.environ.get("RAY_ADDRESS"):
        return   # ray.init starts a new cluster here
    address, source = find_ray_address(cluster.address)
    where = f"cluster.address={cluster.address}" + (f" ({source})" if source and address else "")
    if address is None:
        raise ConfigError(f"cluster.address={cluster.address}: no running Ray cluster found ({source}); {fix}")
    try:
        host, port = host_port(address)
    except ValueError:
        raise ConfigError(f"{where}: cannot read {address!r} as host:port or ray://host:port; {fix}") from None
    path = CLIENT_PATH if address.startswith("ray://") else GCS_PATH
    problem = grpc_problem(host, port, path, RAY_TIMEOUT_S)
    if problem:
        raise ConfigError(f"{where}: no Ray cluster answers at {host}:{port} ({problem}); {fix}")
