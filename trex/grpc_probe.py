"""Is a gRPC server (a Ray GCS or Ray client server) answering at host:port? One unary call over a
raw HTTP/2 connection, with no gRPC library: a TCP connect alone proves nothing where a proxy
accepts every connection, and `ray.init` on a wrong address hangs instead of failing."""
from __future__ import annotations

import socket
import time

from ftbench.offline import env_true

_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_STATUS = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8C: 400, 0x8D: 404, 0x8E: 500}   # HPACK static table
GCS_PATH = "/ray.rpc.NodeInfoGcsService/GetClusterId"
CLIENT_PATH = "/ray.rpc.RayletDriver/ClusterInfo"


def _h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _hpack_int(n: int, bits: int) -> bytes:
    limit = (1 << bits) - 1
    if n < limit:
        return bytes([n])
    out, n = [limit], n - limit
    while n >= 128:
        out, n = [*out, n % 128 | 128], n // 128
    return bytes([*out, n])


def _hpack(name: int | str, value: str) -> bytes:
    """One header, literal without indexing: a static-table name index or a new name; no Huffman."""
    head = _hpack_int(name, 4) if isinstance(name, int) else b"\x00" + _hpack_int(len(name), 7) + name.encode()
    return head + _hpack_int(len(value.encode()), 7) + value.encode()


def grpc_request(host: str, port: int, path: str) -> bytes:
    """An HTTP/2 connection preface and one gRPC unary call to `path` with an empty message."""
    headers = (b"\x83\x86" + _hpack(4, path) + _hpack(1, f"{host}:{port}")   # POST, http, :path, :authority
               + _hpack(31, "application/grpc") + _hpack("te", "trailers"))
    return _H2_PREFACE + _h2_frame(4, 0, 0) + _h2_frame(1, 4, 1, headers) + _h2_frame(0, 1, 1, bytes(5))


def _h2_answer(sock: socket.socket, deadline: float) -> str | None:
    """Read frames until the call's response headers: None for HTTP 200 (a gRPC server, whatever
    its gRPC status, e.g. unauthenticated), else why this is not one."""
    buffer, first = b"", True
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return "something accepts the connection, then closes it"
        buffer += chunk
        if first and len(buffer) >= 9 and buffer[3] != 4:   # an HTTP/2 server starts with SETTINGS
            return "something answers there, but not in gRPC (HTTP/2)"
        while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
            size, kind, flags = int.from_bytes(buffer[:3], "big"), buffer[3], buffer[4]
            stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
            payload, buffer, first = buffer[9:9 + size], buffer[9 + size:], False
            if kind == 4 and not flags & 1:
                sock.sendall(_h2_frame(4, 1, 0))   # acknowledge the server's settings
            elif kind == 7:
                return "something answers there, then ends the connection (HTTP/2 GOAWAY)"
            elif kind == 1 and stream == 1:
                payload = payload[1:len(payload) - payload[0]] if flags & 0x8 and payload else payload
                payload = payload[5:] if flags & 0x20 else payload
                status = _H2_STATUS.get(payload[0]) if payload else None
                return None if status in (None, 200) else f"something answers there with HTTP {status}"


def grpc_problem(host: str, port: int, path: str, timeout_s: float) -> str | None:
    """Why no gRPC server answers a call to `path` at host:port within timeout_s (None: one does).
    A TCP connect alone is not enough: a proxy may accept any. With RAY_USE_TLS, only the connect."""
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            if env_true("RAY_USE_TLS"):
                return None
            sock.sendall(grpc_request(host, port, path))
            return _h2_answer(sock, deadline)
    except socket.gaierror:
        return f"cannot resolve host {host!r}"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as err:
        return (err.strerror or str(err)).lower()
