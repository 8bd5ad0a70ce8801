"""A server subprocess on this machine: started, waited for until it answers, watched, stopped.

It is the `ManagedServer` (trex/llm/supervisor.py) behind llama.cpp here and vLLM in its Ray actor."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def die_with_parent() -> None:
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


def wait_healthy(url: str, exited: Callable[[], int | None], timeout_s: float, log_tail: Callable[[], str],
                 poll_s: float = 0.5, name: str = "vLLM server") -> None:
    """Poll `url` until it answers 200; fail fast, with the log's tail, if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = exited()
        if code is not None:
            raise RuntimeError(f"{name} exited with code {code} before it was healthy:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"{name} not healthy at {url} within {timeout_s:.0f}s:\n{log_tail()}")


class LocalServer:
    """`command` run as a child process whose output goes to `log_path`; healthy when
    `health_url` answers 200. Implements the supervisor's ManagedServer protocol."""

    def __init__(self, name: str, command: list[str], health_url: str, log_path: Path | None,
                 startup_timeout_s: float, poll_s: float = 0.2) -> None:
        self.name, self.command, self.health_url = name, command, health_url
        self.log_path, self.startup_timeout_s, self.poll_s = log_path, startup_timeout_s, poll_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def launch(self) -> None:
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log_path, "ab")   # the child writes it for its whole life
        # Its own session: a Ctrl-C meant for trex does not kill the server under the supervisor.
        self._proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=die_with_parent if sys.platform == "linux" else None)
        try:
            wait_healthy(self.health_url, self._proc.poll, self.startup_timeout_s, self.log_tail, self.poll_s,
                         self.name)
        except Exception:
            self.terminate()
            raise

    def wait_exit(self) -> int:
        proc = self._proc
        if proc is None:
            return 0
        return proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_path or not self.log_path.is_file():
            return ""
        with open(self.log_path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - chars))
            return fh.read().decode(errors="replace")

    def terminate(self, timeout_s: float = 10.0) -> None:
        proc = self._proc
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
