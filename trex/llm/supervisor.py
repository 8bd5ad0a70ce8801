"""Keep the agent LLM server up: notice its death at once, log why, restart it a bounded number
of times, and say so plainly when it cannot be kept up.

A `ManagedServer` is anything that can launch a server (and wait until it answers), block until
it exits, and show the tail of its log: the llama.cpp subprocess here, or vLLM's inside a Ray actor.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class ManagedServer(Protocol):
    name: str

    def launch(self) -> None:
        """Start the server process and return once it answers; raise if it cannot."""

    def wait_exit(self) -> int:
        """Block until the server process exits; its return code (negative: killed by that signal)."""

    def log_tail(self) -> str:
        """The last lines of the server's log."""

    def terminate(self) -> None:
        """Stop the server process (no error if it is not running)."""


def describe_exit(code: int) -> str:
    """'killed by SIGSEGV' for -11, 'exit code 1' for 1."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            return f"killed by signal {-code}"
        if name == "SIGILL":   # the binary uses instructions this CPU lacks
            return "killed by SIGILL: built for another CPU; rebuild it portably (scripts/setup.sh)"
        return f"killed by {name}"
    return f"exit code {code}"


@dataclass(frozen=True)
class Death:
    at: float
    how: str          # describe_exit(code)
    log_tail: str


class Supervisor:
    """Runs a ManagedServer and restarts it when it dies, up to `max_restarts` times.

    `generation` grows by one with each restart, so a caller can tell a failure caused by a
    death from one the server answered; `failure` is set (and never cleared) once it gives up."""

    def __init__(self, server: ManagedServer, max_restarts: int = 3) -> None:
        self.server, self.max_restarts = server, max_restarts
        self.deaths: list[Death] = []
        self.generation = 0
        self.failure = ""
        self._up = False                      # answering; changes only under _changed
        self._changed = threading.Condition()
        self._stopping = False
        self._watcher: threading.Thread | None = None

    def start(self) -> Supervisor:
        self.server.launch()
        self._set_up(True)
        self._watcher = threading.Thread(target=self._watch, name=f"supervise-{self.server.name}", daemon=True)
        self._watcher.start()
        return self

    def wait_up(self, timeout_s: float = 600.0) -> bool:
        """Wait until the server answers again after a death; False once it has been given up on."""
        with self._changed:
            self._changed.wait_for(lambda: self._up or self.failure, timeout=timeout_s)
            return self._up and not self.failure

    def stop(self) -> None:
        self._stopping = True
        self.server.terminate()
        if self._watcher is not None:
            self._watcher.join(timeout=30)

    def _watch(self) -> None:
        while not self._stopping:
            code = self.server.wait_exit()
            if self._stopping:
                return
            self._set_up(False)
            death = Death(at=time.time(), how=describe_exit(code), log_tail=self.server.log_tail())
            self.deaths.append(death)
            log.error("%s died (%s); last lines of its log:\n%s", self.server.name, death.how,
                      death.log_tail.strip()[-1500:] or "(empty)")
            if len(self.deaths) > self.max_restarts:
                self._give_up(f"{self.server.name} died {len(self.deaths)} times (last: {death.how}); "
                              f"restarted {self.max_restarts} time(s), the limit (llm.max_restarts)")
                return
            log.warning("restarting %s (restart %d of %d)", self.server.name, len(self.deaths), self.max_restarts)
            try:
                self.server.launch()
            except Exception as err:   # noqa: BLE001 - any failure to come back ends supervision
                self._give_up(f"{self.server.name} died ({death.how}) and could not be restarted: {err}")
                return
            self.generation += 1
            self._set_up(True)

    def _set_up(self, up: bool) -> None:
        with self._changed:
            self._up = up
            self._changed.notify_all()

    def _give_up(self, reason: str) -> None:
        log.error("%s", reason)
        with self._changed:
            self.failure = reason
            self._changed.notify_all()
