"""A loopback server that speaks Ollama's HTTP wire format, for testing the real `ollama` client.

Usage::

    stub = OllamaStub(models=["qwen3:4b"], reply="The pump was replaced [1].")
    with stub as url:                      # e.g. "http://127.0.0.1:40123"
        ...                                # point settings.ollama_host at url
    stub.requests                          # every /api/chat body received, in order

It serves `/api/chat` (streamed NDJSON in HTTP chunks, or one JSON object when `"stream": false`),
`/api/tags`, `/api/version`, and Ollama's own 404 body for a model it does not have. `delay`
seconds pass before each chat response starts, to provoke client timeouts. `reply` may be a
function of the request's messages. `closed_url()` gives an address where nothing listens.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

VERSION = "0.12.6"


class OllamaStub:
    def __init__(
        self,
        models: list[str] | None = None,
        reply: str | Callable[[list[dict]], str] = "Nothing to report.",
        delay: float = 0.0,
    ) -> None:
        self.models = ["qwen3:4b"] if models is None else list(models)
        self.reply, self.delay = reply, delay
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def has(self, model: str) -> bool:
        name = model if ":" in model else model + ":latest"
        return name in self.models

    def answer(self, messages: list[dict]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply


def closed_url() -> str:
    """A loopback URL with no server behind it (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _pieces(text: str) -> list[str]:
    """Split like a tokenizer would stream: words with their leading space."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]] if words else []


def _handler(stub: OllamaStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            """Silence the default per-request stderr line."""

        def do_GET(self) -> None:
            if self.path == "/api/version":
                self._json(200, {"version": VERSION})
            elif self.path == "/api/tags":
                self._json(200, {"models": [_model_entry(name) for name in stub.models]})
            elif self.path == "/":
                self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
            else:
                self._send(404, b"404 page not found", "text/plain")

        def do_HEAD(self) -> None:
            self._send(200, b"", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": "invalid JSON"})
                return
            if self.path != "/api/chat":
                self._send(404, b"404 page not found", "text/plain")
                return
            stub.requests.append(body)
            model = body.get("model", "")
            if not stub.has(model):
                self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
                return
            time.sleep(stub.delay)
            content = stub.answer(body.get("messages", []))
            if body.get("stream", True):
                self._stream(model, content)
            else:
                self._json(200, _final(model, content))

        def _stream(self, model: str, content: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in _pieces(content):
                message = {"role": "assistant", "content": piece}
                self._chunk({"model": model, "created_at": _now(), "message": message, "done": False})
            self._chunk(_final(model, ""))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _chunk(self, obj: dict) -> None:
            data = json.dumps(obj).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _final(model: str, content: str) -> dict[str, Any]:
    return {
        "model": model, "created_at": _now(), "message": {"role": "assistant", "content": content},
        "done": True, "done_reason": "stop", "total_duration": 1_000_000, "load_duration": 100_000,
        "prompt_eval_count": 10, "prompt_eval_duration": 200_000, "eval_count": 5, "eval_duration": 700_000,
    }


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name, "model": name, "modified_at": _now(), "size": 2_500_000_000,
        "digest": "0" * 64,
        "details": {
            "parent_model": "", "format": "gguf", "family": "qwen3", "families": ["qwen3"],
            "parameter_size": "4.0B", "quantization_level": "Q4_K_M",
        },
    }
