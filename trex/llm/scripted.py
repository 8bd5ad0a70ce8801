"""A scripted OpenAI-compatible endpoint: real HTTP, answers from a Python function.

Lets whole searches run without a real model (tests, demos) while the client, retries and
parsing stay exactly the production path.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]   # request body -> assistant message content


class ScriptedHTTPError(Exception):
    """Raise from a responder to answer with an HTTP error (e.g. 429, 503) instead of a reply."""

    def __init__(self, status: int, message: str = "scripted error") -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _message(body: dict[str, Any], content: str) -> dict[str, Any]:
    """The assistant message: a forced function call carries `content` as its arguments."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice["function"]["name"]
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": name, "arguments": content}}]}
    return {"role": "assistant", "content": content}


class ScriptedEndpoint:
    def __init__(self, responder: Responder, model: str = "scripted", port: int = 0) -> None:
        self.responder, self.model = responder, model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": endpoint.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with endpoint._lock:
                    endpoint.requests.append(body)
                try:
                    content = endpoint.responder(body)
                except ScriptedHTTPError as err:
                    self._send(err.status, {"error": {"message": err.message, "type": "scripted", "code": err.status}})
                    return
                prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
                usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split())}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                self._send(200, {
                    "id": f"scripted-{len(endpoint.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": endpoint.model, "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "stop", "message": _message(body, content)}]})

        return Handler

    def __enter__(self) -> ScriptedEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    """`python -m trex.llm.scripted --port N --responder pkg.module:function`: the endpoint as a
    server process of its own (for tests that kill and restart the agent LLM server)."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(prog="python -m trex.llm.scripted")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="scripted")
    parser.add_argument("--responder", required=True, help="module:function, request body -> reply content")
    args = parser.parse_args(argv)
    module, _, name = args.responder.partition(":")
    endpoint = ScriptedEndpoint(getattr(importlib.import_module(module), name), args.model, args.port)
    print(f"scripted endpoint serving {args.model} at {endpoint.base_url}", flush=True)
    endpoint._server.serve_forever()


if __name__ == "__main__":
    main()
