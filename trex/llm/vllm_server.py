"""vLLM's OpenAI-compatible server as the agent LLM (`llm=vllm`), run inside a Ray actor that
holds its GPUs (num_gpus = tensor_parallel_size), so executors are scheduled on the others.

The actor starts `python -m vllm.entrypoints.openai.api_server`, waits for GET /health, and
stops the server when the search ends (or when the actor dies: the server gets SIGTERM with it)."""
from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trex.config import LLMConfig
from trex.llm.llamacpp import _die_with_parent, free_port

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


def wait_healthy(url: str, exited: Callable[[], int | None], timeout_s: float, log_tail: Callable[[], str],
                 poll_s: float = 0.5) -> None:
    """Poll `url` (the server's /health) until it answers 200; fail fast if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = exited()
        if code is not None:
            raise RuntimeError(f"vLLM server exited with code {code} before it was healthy:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"vLLM server not healthy at {url} within {timeout_s:.0f}s:\n{log_tail()}")


def vllm_problems(gpus_visible: int, tensor_parallel_size: int) -> list[str]:
    """Why this machine cannot run the server ([] when it can)."""
    problems = []
    if importlib.util.find_spec("vllm") is None:
        problems.append("vllm is not installed (`pip install -e .[gpu]`)")
    if gpus_visible < tensor_parallel_size:
        problems.append(f"llm.tensor_parallel_size={tensor_parallel_size} needs that many GPUs, "
                        f"{gpus_visible} visible")
    return problems


class ServerProcess:
    """The server subprocess on this machine (the body of the Ray actor)."""

    def __init__(self, settings: VLLMServerSettings, log_path: str | None = None,
                 command: list[str] | None = None) -> None:
        self.settings, self.log_path = settings, Path(log_path) if log_path else None
        self.port = settings.port or free_port()
        self.command = command or server_command(settings, self.port)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        """Start and wait for /health; returns the port."""
        out = subprocess.DEVNULL
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log_path, "ab")   # noqa: SIM115 - the child writes it for its whole life
        self._proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT,
                                      preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        try:
            wait_healthy(f"http://127.0.0.1:{self.port}/health", self._proc.poll, self.settings.startup_timeout_s,
                         self._tail)
        except Exception:
            self.stop()
            raise
        return self.port

    def _tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path and self.log_path.is_file() else ""

    def node_ip(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


class VLLMServer:
    """The driver's handle: a Ray actor with `tensor_parallel_size` GPUs running ServerProcess.
    Use as a context manager; `base_url` ends in /v1."""

    def __init__(self, settings: VLLMServerSettings, log_path: Path | None = None,
                 command: list[str] | None = None) -> None:
        self.settings, self.log_path, self.command = settings, log_path, command   # command: tests, custom builds
        self.base_url = ""
        self._actor = None

    def __enter__(self) -> VLLMServer:
        import ray

        gpus = ray.cluster_resources().get("GPU", 0)
        if gpus < self.settings.tensor_parallel_size:
            raise RuntimeError(f"llm=vllm: the Ray cluster has {gpus:g} GPU(s), tensor_parallel_size="
                               f"{self.settings.tensor_parallel_size} needs that many")
        actor_cls = ray.remote(ServerProcess).options(num_gpus=self.settings.tensor_parallel_size, num_cpus=0,
                                                      max_concurrency=2)
        self._actor = actor_cls.remote(self.settings, str(self.log_path) if self.log_path else None, self.command)
        log.info("starting vLLM server for %s on %d GPU(s)", self.settings.model, self.settings.tensor_parallel_size)
        try:
            port = ray.get(self._actor.start.remote())
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
        try:
            ray.get(self._actor.stop.remote(), timeout=60)
        except Exception as err:   # noqa: BLE001 - killing the actor below stops the server too
            log.warning("vLLM server did not stop cleanly: %s", err)
        ray.kill(self._actor)
        self._actor = None
