"""The vLLM agent-LLM server on CPU: its command line, the /health wait against a fake HTTP
server, a fake server process started, supervised and stopped, and the refusal without vLLM/GPU."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from trex.llm.llamacpp import free_port
from trex.llm.process import wait_healthy
from trex.llm.vllm_server import ServerProcess, VLLMServerSettings, server_command, vllm_problems

FAKE_SERVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
time.sleep(float(sys.argv[2]))
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers()
    def log_message(self, *a): pass
print("fake vLLM up", flush=True)
HTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()   # as vLLM: all interfaces
"""


def test_command_line() -> None:
    s = VLLMServerSettings(model="Qwen/Qwen3-8B", tensor_parallel_size=2, max_model_len=16384,
                           gpu_memory_utilization=0.8)
    cmd = server_command(s, 8123, python="py")
    assert cmd[:3] == ["py", "-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert flags == {"--model": "Qwen/Qwen3-8B", "--served-model-name": "Qwen/Qwen3-8B", "--host": "0.0.0.0",
                     "--port": "8123", "--tensor-parallel-size": "2", "--gpu-memory-utilization": "0.8",
                     "--distributed-executor-backend": "mp", "--max-model-len": "16384"}
    single = server_command(VLLMServerSettings(model="m"), 1, python="py")
    assert "--distributed-executor-backend" not in single and "--max-model-len" not in single


def test_health_wait_polls_until_200() -> None:
    status = {"code": 503}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status["code"] if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    threading.Timer(0.5, lambda: status.update(code=200)).start()
    url = f"http://127.0.0.1:{httpd.server_port}/health"
    try:
        started = time.monotonic()
        wait_healthy(url, lambda: None, 10, lambda: "", poll_s=0.05)
        assert 0.4 < time.monotonic() - started < 5
        status["code"] = 503
        with pytest.raises(TimeoutError, match="not healthy"):
            wait_healthy(url, lambda: None, 0.3, lambda: "log tail", poll_s=0.05)
    finally:
        httpd.shutdown()


def test_health_wait_fails_fast_when_the_process_exits() -> None:
    with pytest.raises(RuntimeError, match=r"exited with code 1(.|\n)*CUDA out of memory"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", lambda: 1, 60, lambda: "CUDA out of memory")


def test_process_started_waited_for_and_stopped(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "llm-server.log"
    server = ServerProcess(VLLMServerSettings(model="m", port=port, startup_timeout_s=30), str(log_path),
                           command=[sys.executable, "-c", FAKE_SERVER, str(port), "0.5"])
    assert server.start() == port and server.running()
    proc = server._proc
    server.stop()
    assert not server.running() and proc.returncode is not None
    assert "fake vLLM up" in log_path.read_text()


def test_a_server_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    server = ServerProcess(VLLMServerSettings(model="m", startup_timeout_s=30), str(tmp_path / "log"),
                           command=[sys.executable, "-c", "import sys; print('no GPU found'); sys.exit(3)"])
    with pytest.raises(RuntimeError, match=r"code 3(.|\n)*no GPU found"):
        server.start()
    assert not server.running()


def test_problems_without_vllm_or_gpus(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    problems = vllm_problems(0, 2)
    assert "vllm is not installed" in problems[0] and "tensor_parallel_size=2 needs that many GPUs, 0" in problems[1]


def test_ray_actor_holds_its_gpus_and_stops_the_server(tmp_path: Path) -> None:
    """On a Ray instance with two (logical) GPUs: the server actor takes tensor_parallel_size of
    them while it runs and gives them back, with the server process gone, at exit."""
    import urllib.request

    import ray

    from trex.llm.vllm_server import VLLMServer

    port = free_port()
    ray.init(address="local", num_cpus=1, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        settings = VLLMServerSettings(model="m", tensor_parallel_size=2, port=port, startup_timeout_s=60)
        with VLLMServer(settings, tmp_path / "llm-server.log",
                        command=[sys.executable, "-c", FAKE_SERVER, str(port), "0"]) as server:
            assert server.base_url.endswith(f":{port}/v1")
            assert ray.available_resources().get("GPU", 0) == 0
            with urllib.request.urlopen(server.base_url.replace("/v1", "/health"), timeout=5) as resp:
                assert resp.status == 200
            # Supervised: the server killed inside its actor is noticed and restarted on the same port.
            import psutil

            [proc] = [p for p in psutil.process_iter(["cmdline"])
                      if "fake vLLM up" in " ".join(p.info["cmdline"] or [])]
            proc.kill()
            deadline = time.monotonic() + 30
            while not server.supervisor.deaths and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.supervisor.deaths[0].how == "killed by SIGKILL"
            assert server.supervisor.wait_up(60) and server.supervisor.generation == 1
            with urllib.request.urlopen(server.base_url.replace("/v1", "/health"), timeout=5) as resp:
                assert resp.status == 200
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
        deadline = time.monotonic() + 30
        while ray.available_resources().get("GPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ray.available_resources().get("GPU", 0) == 2
        with pytest.raises(RuntimeError, match="has 2 GPU"):
            VLLMServer(VLLMServerSettings(model="m", tensor_parallel_size=4)).__enter__()
    finally:
        ray.shutdown()


def test_llm_vllm_without_vllm_or_gpu_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() and importlib.util.find_spec("vllm"):
        pytest.skip("this machine can run vLLM")
    proc = subprocess.run([sys.executable, "-m", "trex.launch", "+task=math", "llm=vllm", "tracker=none",
                           f"run_dir={tmp_path / 'runs'}"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "llm=vllm:" in proc.stderr and not (tmp_path / "runs").exists()
