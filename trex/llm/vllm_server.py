"""vLLM's OpenAI-compatible server as the agent LLM (`llm=vllm`), run inside a Ray actor that
holds its GPUs (num_gpus = tensor_parallel_size), so executors are scheduled on the others.

The actor starts `python -m vllm.entrypoints.openai.api_server`, waits for GET /health, and
stops the server when the search ends (or when the actor dies: the server gets SIGTERM with it)."""
from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trex.config import LLMConfig
from trex.llm.process import LocalServer, free_port
from trex.llm.supervisor import Supervisor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VLLMServerSettings:
    model: str                           # HF id or folder; also the served model name
    tensor_parallel_size: int = 1
    max_model_len: int | None = None     # None: the model's own context length
    gpu_memory_utilization: float = 0.9
    port: int | None = None              # None: a free port on the actor's node
    startup_timeout_s: float = 900.0     # download + load + CUDA graphs can take minutes


def settings_from(llm: LLMConfig) -> VLLMServerSettings:
    return VLLMServerSettings(model=llm.model, tensor_parallel_size=llm.tensor_parallel_size,
                              max_model_len=llm.max_model_len, gpu_memory_utilization=llm.gpu_memory_utilization,
                              port=llm.port, startup_timeout_s=llm.startup_timeout_s)


def server_command(s: VLLMServerSettings, port: int, python: str = sys.executable) -> list[str]:
    """The api_server command line. Tensor parallelism uses vLLM's own worker processes (mp),
    so the server stays on the GPUs its Ray actor holds instead of asking Ray for more."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", s.model, "--served-model-name", s.model,
           "--host", "0.0.0.0", "--port", str(port), "--tensor-parallel-size", str(s.tensor_parallel_size),
           "--gpu-memory-utilization", str(s.gpu_memory_utilization)]
    if s.tensor_parallel_size > 1:
        cmd += ["--distributed-executor-backend", "mp"]
    if s.max_model_len:
        cmd += ["--max-model-len", str(s.max_model_len)]
    return cmd


def vllm_problems(gpus_visible: int, tensor_parallel_size: int) -> list[str]:
    """Why this machine cannot run the server ([] when it can)."""
    problems = []
    if importlib.util.find_spec("vllm") is None:
        problems.append("vllm is not installed (`pip install -e .[gpu]`)")
    if gpus_visible < tensor_parallel_size:
        problems.append(f"llm.tensor_parallel_size={tensor_parallel_size} needs that many GPUs, "
                        f"{gpus_visible} visible")
    return problems


class ServerProcess(LocalServer):
    """The server subprocess on this machine (the body of the Ray actor)."""

    def __init__(self, settings: VLLMServerSettings, log_path: str | None = None,
                 command: list[str] | None = None) -> None:
        self.settings = settings
        self.port = settings.port or free_port()
        super().__init__("vLLM server", command or server_command(settings, self.port),
                         f"http://127.0.0.1:{self.port}/health", Path(log_path) if log_path else None,
                         settings.startup_timeout_s, poll_s=0.5)

    def start(self) -> int:
        """Start and wait for /health; returns the port."""
        self.launch()
        return self.port

    def bound_port(self) -> int:
        return self.port

    def node_ip(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def stop(self, timeout_s: float = 30.0) -> None:
        self.terminate(timeout_s)


class ActorServer:
    """The supervisor's view of the server in its Ray actor: launch, wait for its exit, read its log."""

    name = "vLLM server"

    def __init__(self, actor) -> None:
        self.actor = actor

    def launch(self) -> None:
        import ray

        ray.get(self.actor.start.remote())

    def wait_exit(self) -> int:
        import ray

        try:
            return int(ray.get(self.actor.wait_exit.remote()))
        except ray.exceptions.RayActorError:
            return -9     # the actor (or its node) is gone, and the server with it

    def log_tail(self) -> str:
        import ray

        try:
            return str(ray.get(self.actor.log_tail.remote(), timeout=10))
        except Exception as err:   # noqa: BLE001 - the tail is a courtesy
            return f"(log unavailable: {err})"

    def terminate(self) -> None:
        import ray

        try:
            ray.get(self.actor.stop.remote(), timeout=60)
        except Exception as err:   # noqa: BLE001 - killing the actor afterwards stops the server too
            log.warning("vLLM server did not stop cleanly: %s", err)


class VLLMServer:
    """The driver's handle: a Ray actor with `tensor_parallel_size` GPUs running ServerProcess,
    supervised (restarted up to `max_restarts` times). Use as a context manager; `base_url` ends in /v1."""

    def __init__(self, settings: VLLMServerSettings, log_path: Path | None = None,
                 command: list[str] | None = None, max_restarts: int = 3) -> None:
        self.settings, self.log_path, self.command = settings, log_path, command   # command: tests, custom builds
        self.max_restarts = max_restarts
        self.base_url = ""
        self._actor: Any = None   # the ServerProcess Ray actor
        self.supervisor: Supervisor | None = None

    def __enter__(self) -> VLLMServer:
        import ray

        gpus = ray.cluster_resources().get("GPU", 0)
        if gpus < self.settings.tensor_parallel_size:
            raise RuntimeError(f"llm=vllm: the Ray cluster has {gpus:g} GPU(s), tensor_parallel_size="
                               f"{self.settings.tensor_parallel_size} needs that many")
        actor_cls = ray.remote(ServerProcess).options(num_gpus=self.settings.tensor_parallel_size, num_cpus=0,
                                                      max_concurrency=4)
        self._actor = actor_cls.remote(self.settings, str(self.log_path) if self.log_path else None, self.command)
        log.info("starting vLLM server for %s on %d GPU(s)", self.settings.model, self.settings.tensor_parallel_size)
        try:
            self.supervisor = Supervisor(ActorServer(self._actor), self.max_restarts).start()
            port = ray.get(self._actor.bound_port.remote())
            host = ray.get(self._actor.node_ip.remote())
        except Exception:
            self.__exit__()
            raise
        self.base_url = f"http://{host}:{port}/v1"
        log.info("vLLM server healthy at %s", self.base_url)
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        if self._actor is None:
            return
        if self.supervisor is not None:
            self.supervisor.stop()
        else:
            ActorServer(self._actor).terminate()
        ray.kill(self._actor)
        self._actor = None
