"""The LLM server supervisor on a real subprocess server: deaths noticed at once and logged with
their signal and log tail, bounded restarts on the same port, and a clear failure when it gives up."""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import reply, spec_json
from trex.llm.process import LocalServer, free_port
from trex.llm.supervisor import Supervisor, describe_exit


def respond(body: dict) -> str:
    return reply(spec_json("a"))


def scripted_server(tmp_path: Path, port: int) -> LocalServer:
    command = [sys.executable, "-m", "trex.llm.scripted", "--port", str(port), "--responder",
               "tests.unit.test_supervisor:respond"]
    return LocalServer("scripted server", command, f"http://127.0.0.1:{port}/v1/models", tmp_path / "server.log",
                       startup_timeout_s=60)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_for(predicate, timeout_s: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_exit_codes_are_described_by_signal_name() -> None:
    assert describe_exit(-11) == "killed by SIGSEGV" and describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "exit code 1"
    assert "rebuild it portably" in describe_exit(-4)   # SIGILL: the build does not fit this CPU


def test_a_killed_server_is_noticed_logged_and_restarted_on_its_port(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    port = free_port()
    server = scripted_server(tmp_path, port)
    supervisor = Supervisor(server, max_restarts=2).start()
    try:
        assert answers(port)
        for n, sig in enumerate((signal.SIGSEGV, signal.SIGKILL), start=1):
            old = server.pid
            with caplog.at_level(logging.ERROR, logger="trex.llm.supervisor"):
                os.kill(old, sig)
                # B023: wait_for calls the lambda only within this iteration
                assert wait_for(lambda: len(supervisor.deaths) == n, 10), "the death was not noticed"  # noqa: B023
            assert f"killed by {sig.name}" in caplog.text and "scripted endpoint serving" in caplog.text
            assert supervisor.wait_up(60) and server.pid != old and answers(port)
            assert supervisor.generation == n and not supervisor.failure
        os.kill(server.pid, signal.SIGTERM)   # the third death is one too many
        assert wait_for(lambda: bool(supervisor.failure), 10)
        assert not supervisor.wait_up(1)
        assert ("died 3 times (last: killed by SIGTERM)" in supervisor.failure
                and "llm.max_restarts" in supervisor.failure)
    finally:
        supervisor.stop()
    assert not server.running()


def test_a_server_that_cannot_come_back_is_given_up_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    port = free_port()
    server = scripted_server(tmp_path, port)
    supervisor = Supervisor(server, max_restarts=3).start()
    try:
        server.command = [sys.executable, "-c", "import sys; print('model file is corrupt'); sys.exit(4)"]
        os.kill(server.pid, signal.SIGKILL)
        assert wait_for(lambda: bool(supervisor.failure), 30)
        assert "could not be restarted" in supervisor.failure and "model file is corrupt" in supervisor.failure
    finally:
        supervisor.stop()


def test_stopping_is_not_a_death(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    server = scripted_server(tmp_path, free_port())
    supervisor = Supervisor(server).start()
    supervisor.stop()
    assert not server.running() and supervisor.deaths == [] and not supervisor.failure
