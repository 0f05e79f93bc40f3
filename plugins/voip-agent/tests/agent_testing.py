"""Test helpers of voip-agent: an Ollama stand-in on loopback with scripted token timings.

:class:`OllamaStandIn` speaks the part of Ollama's HTTP API the real
``ollama`` client uses here: ``POST /api/chat`` (streamed as NDJSON over
chunked transfer encoding, or one JSON object with ``"stream": false``),
``GET /api/tags``, ``GET /api/version``. Each reply is a *script*: a list of
``(seconds to wait, text delta)`` steps, so tests decide when every token
arrives. It records each request's body, and whether the client went away
before the end of a stream (what barge-in does).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Script = Sequence[tuple[float, str]]
#: ``(delay, "error: ...")`` in a script sends Ollama's mid-stream error line.
ERROR = "error:"


def script(text: str, *, first: float = 0.0, between: float = 0.0) -> list[tuple[float, str]]:
    """``text`` word by word: the first after ``first`` seconds, the rest ``between`` apart."""
    words = text.split(" ")
    steps = [(between, f" {word}") for word in words[1:]]
    return [(first, words[0]), *steps]


@dataclass
class Stream:
    """One /api/chat request as the stand-in saw it."""

    body: dict[str, Any]
    sent: list[str] = field(default_factory=list)
    finished: bool = False
    client_left: bool = False
    ended: threading.Event = field(default_factory=threading.Event)


class OllamaStandIn:
    """Ollama's chat API on a loopback port, answering with scripted replies.

    Args:
        replies: A script per request, in turn (the last repeats), or a function
            of the request body that returns one.
        models: The models it "has"; others get Ollama's 404.
        host: ``127.0.0.1`` or ``::1``.
    """

    def __init__(
        self,
        replies: Sequence[Script] | Callable[[dict[str, Any]], Script],
        *,
        models: Sequence[str] = ("llama3.2:latest",),
        host: str = "127.0.0.1",
    ) -> None:
        assert host in ("127.0.0.1", "::1"), "loopback only"
        self.replies = replies
        self.models = list(models)
        self.host = host
        self.streams: list[Stream] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/api/version":
                    self._json(200, {"version": "0.0.0-stand-in"})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [{"name": m, "model": m} for m in stand_in.models]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}")
                if self.path != "/api/chat":
                    self._json(404, {"error": "not found"})
                    return
                model = body.get("model", "")
                if model not in stand_in.models and f"{model}:latest" not in stand_in.models:
                    self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
                    return
                stream = Stream(body=body)
                with stand_in._lock:
                    stream_script = stand_in._script(body)
                    stand_in.streams.append(stream)
                try:
                    self._answer(body, stream, stream_script)
                finally:
                    stream.ended.set()

            def _answer(self, body: dict[str, Any], stream: Stream, steps: Script) -> None:
                model = body["model"]
                if not body.get("stream", True):
                    text = "".join(text for _, text in steps if not text.startswith(ERROR))
                    message = {"role": "assistant", "content": text}
                    self._json(200, {"model": model, "message": message, "done": True})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for delay, text in steps:
                        time.sleep(delay)
                        if text.startswith(ERROR):
                            self._line({"error": text[len(ERROR) :].strip()})
                            break
                        message = {"role": "assistant", "content": text}
                        self._line({"model": model, "message": message, "done": False})
                        stream.sent.append(text)
                    else:
                        done = {"role": "assistant", "content": ""}
                        self._line({"model": model, "message": done, "done": True})
                        stream.finished = True
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:  # the client hung up: barge-in, cancellation
                    stream.client_left = True

            def _line(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self._server = Server((host, 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _script(self, body: dict[str, Any]) -> Script:
        if callable(self.replies):
            return self.replies(body)
        index = min(len(self.streams), len(self.replies) - 1)
        return self.replies[index]

    @property
    def url(self) -> str:
        """The base URL, as OLLAMA_HOST or ``host=`` takes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> OllamaStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# The voip command ---------------------------------------------------------------------------


def voip(*arguments: str) -> list[str]:
    """The command line of ``voip ARGUMENTS`` with this Python."""
    return [sys.executable, "-m", "voip_core", *arguments]


def start_voip(arguments: list[str], log: Path, **environment: str) -> subprocess.Popen[bytes]:
    """``voip ARGUMENTS`` in the background, output to ``log``; returns once it listens."""
    with log.open("w") as output:
        process = subprocess.Popen(
            voip(*arguments),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **environment},
        )
    for _ in range(400):
        if "listening on" in log.read_text() or process.poll() is not None:
            break
        time.sleep(0.05)
    assert "listening on" in log.read_text(), log.read_text()
    return process


def stop_voip(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and wait for the exit."""
    process.terminate()
    process.wait(timeout=15)
