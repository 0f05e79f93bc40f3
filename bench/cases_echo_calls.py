"""Benchmark: how many concurrent PCMU echo calls one `voip serve` process carries.

`voip serve --app echo` runs as a subprocess (one process, so at most one
core). This process is the load generator: for each of N calls it has a UDP
socket of its own for RTP, on an even port with the odd one above bound for
RTCP (until 2026-11-25 it took any port, so the server's RTCP to port + 1
could land on another call's socket, or on the SIP socket, which then
failed to parse it), places the call over SIP (INVITE with a PCMU
offer, 200, ACK on one SIP socket), and then, for :data:`STREAM_S` seconds,
sends a packet every 20 ms on every call: 1 s of a 400 Hz tone, then 1 s of
silence, over and over. The calls' packets are spread evenly over each 20
ms, and their tone/silence cycles evenly over its 2 s (callers do not speak
in unison; until 2026-11 every call's tone started at once, which loads the
server in bursts: all utterances end, and all echoes start, within 20 ms).
The echo app sends each utterance back once 0.5 s of silence has ended it,
so every call receives and sends. At the end every call gets a BYE.

The load generator does not wait on its sockets: it sleeps until its next
packet is due and then reads what has come. On loopback the sender of a
datagram pays for waking the process that waits for it (in a virtual
machine an interrupt to the other CPU, 10-30 µs), so a generator asleep in
``epoll_wait`` made every packet the server echoed cost the server that
much more, which a peer on another host never costs it. (Until 2026-11-25
it waited on them: the same server then took 74-77 % of a core for 400
calls, against 62-66 % with this generator, on a 2-vCPU virtual machine.)

For each step (N in :data:`COUNTS`, rising until a step fails):

- ``server_cpu_pct``: the server's CPU time (utime + stime) over the
  streaming, as a share of one core.
- ``sent``, ``echoed``: packets sent to the server, packets it sent back.
- ``lost_pct``: echoed packets missing, from the gaps in each call's RTP
  sequence numbers (within each utterance the server sends back).
- ``late_pct`` and ``late_p99_ms``: an echoed packet is late when it
  arrives more than :data:`LATE_MS` after its place in its utterance's
  schedule. The schedule is set by the utterance's most punctual packet
  (arrival minus RTP timestamp); a jitter buffer of one packet would still
  play such a stream.
- ``utterances``: utterances echoed per call, against those sent (the last
  is not counted: its echo may still be under way).
- ``sender_late_p99_ms``: how far this process fell behind its own sending
  schedule. When it is large, the load generator, not the server, is the
  limit.

A step passes when lost and late together stay under 1 % of what the calls
sent back and every call echoed every utterance. ``media: concurrent PCMU
echo calls, one process`` (``MEASURED``) gives the server's CPU time per
call-second at the highest passing step (``median_us``), and the step
figures. ``echo_call_load`` (``REPORTS``) is the table. Needs Linux
``/proc``; nothing is asserted.
"""

from __future__ import annotations

import contextlib
import math
import random
import selectors
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench is no package
from cases_calls import _cpu_seconds, _percentile, _start_server

from voip_core.codecs import PCMU
from voip_core.errors import ParseError
from voip_core.sdp import SessionDescription
from voip_core.sip import parse_message

HOST = "127.0.0.1"
COUNTS = (50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 1000)
STREAM_S = 8.0
PACKET_S = 0.02
#: Tone, then silence, each this long.
SPURT_S = 1.0
LATE_MS = 20.0
#: Lost and late together may be this share of what comes back.
FAIL_SHARE = 0.01
_HEADER = struct.Struct("!BBHII")

_results: dict[str, Any] = {}


def _payloads() -> tuple[list[bytes], bytes]:
    encoder = PCMU().create_encoder()
    t = np.arange(int(8000 * SPURT_S)) / 8000
    tone = (0.3 * np.sin(2 * np.pi * 400 * t)).astype(np.float32)
    frames = [encoder.encode(tone[i : i + 160]) for i in range(0, len(tone), 160)]
    return frames, encoder.encode(np.zeros(160, np.float32))


def _port_pair() -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on an even port and the odd one above it (tried from a random start)."""
    low, count = 20000, 20000
    start = random.randrange(count)
    for attempt in range(count):
        port = low + 2 * ((start + attempt) % count)
        pair = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            pair[0].bind((HOST, port))
            pair[1].bind((HOST, port + 1))
        except OSError:
            for sock in pair:
                sock.close()
            continue
        return pair[0], pair[1]
    raise OSError(f"no free pair of UDP ports on {HOST}")


class _Call:
    """One call of the load: its RTP socket, what it sends, what comes back."""

    def __init__(self, index: int) -> None:
        self.index = index
        # RTP on an even port and RTCP on the one above [RFC 3550 §11], as a phone
        # binds them: the server's RTCP to port + 1 must not reach another socket.
        self.sock, self.rtcp = _port_pair()
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.call_id = f"echo-load-{index}-{time.monotonic_ns()}@{HOST}"
        self.to_header = ""
        self.remote: tuple[str, int] = ("", 0)  # the server's RTP address, once answered
        self.ssrc = 0x1000 + index
        self.received: list[tuple[float, int, int, bool]] = []  # arrival, seq, ts, marker

    def request(self, method: str, cseq: int, sip_port: int, server_port: int) -> bytes:
        sdp = (
            f"v=0\r\no=load {self.index} 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\n"
            f"t=0 0\r\nm=audio {self.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        ).encode()
        body = sdp if method == "INVITE" else b""
        to = self.to_header or f"<sip:echo@{HOST}:{server_port}>"
        head = (
            f"{method} sip:echo@{HOST}:{server_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{sip_port};branch=z9hG4bK-{self.index}-{method}-{cseq}\r\n"
            f"From: <sip:load@{HOST}:{sip_port}>;tag=load{self.index}\r\n"
            f"To: {to}\r\nCall-ID: {self.call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:load@{HOST}:{sip_port}>\r\nMax-Forwards: 70\r\n"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


def _answers(sip: socket.socket, wanted: int, seconds: float) -> list[Any]:
    """The responses that arrive on ``sip`` within ``seconds`` (at most ``wanted``)."""
    responses: list[Any] = []
    deadline = time.monotonic() + seconds
    sip.settimeout(0.05)
    while len(responses) < wanted and time.monotonic() < deadline:
        try:
            data = sip.recv(65535)
        except TimeoutError:
            continue
        try:
            message = parse_message(data)
        except ParseError:
            continue  # not SIP: a stray datagram
        if not message.is_request and message.status_code >= 200:
            responses.append(message)
    return responses


def _place(calls: list[_Call], sip: socket.socket, server_port: int) -> None:
    sip_port = sip.getsockname()[1]
    by_id = {call.call_id: call for call in calls}
    for first in range(0, len(calls), 50):
        batch = calls[first : first + 50]
        for call in batch:
            sip.sendto(call.request("INVITE", 1, sip_port, server_port), (HOST, server_port))
        for response in _answers(sip, len(batch), 10.0):
            call = by_id[response.call_id]
            if response.status_code != 200:
                raise RuntimeError(f"call {call.index}: {response.status_code}")
            call.to_header = response.headers.get("To") or ""
            media = SessionDescription.parse(response.body).media[0]
            call.remote = (HOST, media.port)
            sip.sendto(call.request("ACK", 1, sip_port, server_port), (HOST, server_port))
    missing = [call.index for call in calls if not call.remote[1]]
    if missing:
        raise RuntimeError(f"{len(missing)} calls were not answered")


def _hang_up(calls: list[_Call], sip: socket.socket, server_port: int) -> None:
    sip_port = sip.getsockname()[1]
    for first in range(0, len(calls), 50):
        batch = calls[first : first + 50]
        for call in batch:
            sip.sendto(call.request("BYE", 2, sip_port, server_port), (HOST, server_port))
        _answers(sip, len(batch), 5.0)


def _stream(calls: list[_Call]) -> tuple[int, list[float]]:
    """Send the tone/silence pattern on every call; note what comes back. Sent, sender lateness."""
    tone, silence = _payloads()
    selector = selectors.EpollSelector()
    for call in calls:
        selector.register(call.sock, selectors.EVENT_READ, call)
    count, spurt = len(calls), round(SPURT_S / PACKET_S)
    ticks = round(STREAM_S / PACKET_S)
    start = time.monotonic() + 0.1
    sent, behind = 0, []
    unpack, now = _HEADER.unpack_from, time.monotonic

    def drain(timeout: float) -> None:
        for key, _ in selector.select(timeout):
            call = key.data
            with contextlib.suppress(BlockingIOError):
                while True:
                    data = call.sock.recv(2048)
                    _, second, sequence, timestamp, _ = unpack(data)
                    call.received.append((now(), sequence, timestamp, bool(second & 0x80)))

    # Each call is at its own point of the tone/silence cycle: callers do not speak in unison.
    phases = [(call.index * 2 * spurt) // count for call in calls]
    for tick in range(ticks):
        for call, phase in zip(calls, phases, strict=True):
            due = start + tick * PACKET_S + call.index * PACKET_S / count
            wait = due - now()
            if wait > 0:
                # Asleep rather than waiting on the sockets: see the module's docstring.
                time.sleep(wait)
                drain(0)
            behind.append(max(0.0, now() - due))
            cycle = tick + phase
            marker = 0x80 if cycle % spurt == 0 or tick == 0 else 0
            header = _HEADER.pack(0x80, marker, tick & 0xFFFF, (160 * tick) & 0xFFFFFFFF, call.ssrc)
            payload = tone[cycle % spurt] if (cycle // spurt) % 2 == 0 else silence
            call.sock.sendto(header + payload, call.remote)
            sent += 1
    end = now() + 1.5  # the last echoes
    while now() < end:
        time.sleep(0.001)
        drain(0)
    selector.close()
    return sent, behind


def _utterances(received: list[tuple[float, int, int, bool]]) -> list[list[tuple[float, int, int]]]:
    """The echoed packets cut into utterances (a timestamp jump of more than a packet)."""
    spurts: list[list[tuple[float, int, int]]] = []
    last_ts: int | None = None
    for arrival, sequence, timestamp, _marker in sorted(received, key=lambda r: r[0]):
        if last_ts is None or (timestamp - last_ts) % 2**32 > 1600:
            spurts.append([])
        spurts[-1].append((arrival, sequence, timestamp))
        last_ts = timestamp
    return spurts


def _step(count: int, server: Any, server_port: int) -> dict[str, Any]:
    calls = [_Call(index) for index in range(count)]
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind((HOST, 0))
    try:
        _place(calls, sip, server_port)
        cpu_before, wall_before = _cpu_seconds(server.pid), time.monotonic()
        sent, behind = _stream(calls)
        cpu = _cpu_seconds(server.pid) - cpu_before
        wall = time.monotonic() - wall_before
        _hang_up(calls, sip, server_port)
    finally:
        sip.close()
        for call in calls:
            call.sock.close()
            call.rtcp.close()
    echoed = lost = late = 0
    lateness: list[float] = []
    expected_utterances = math.floor(STREAM_S / (2 * SPURT_S)) - 1
    short_calls = 0
    for call in calls:
        spurts = _utterances(call.received)
        if len(spurts) < expected_utterances:
            short_calls += 1
        for spurt in spurts:
            first_ts = spurt[0][2]
            offsets = [arrival - ((ts - first_ts) % 2**32) / 8000 for arrival, _, ts in spurt]
            anchor = min(offsets)
            delays = [1000 * (offset - anchor) for offset in offsets]
            lateness += delays
            late += sum(delay > LATE_MS for delay in delays)
            sequences = sorted((seq - spurt[0][1]) % 2**16 for _, seq, _ in spurt)
            lost += sequences[-1] + 1 - len(set(sequences))
            echoed += len(spurt)
    share = (lost + late) / max(1, echoed + lost)
    behind_ms = [1000 * value for value in behind]
    return {
        "calls": count,
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "sent": sent,
        "echoed": echoed,
        "lost_pct": round(100 * lost / max(1, echoed + lost), 3),
        "late_pct": round(100 * late / max(1, echoed), 3),
        "late_p99_ms": round(_percentile(lateness, 0.99) or 0.0, 1),
        "calls_missing_utterances": short_calls,
        "sender_late_p99_ms": round(_percentile(behind_ms, 0.99) or 0.0, 1),
        "passed": share < FAIL_SHARE and short_calls == 0,
        "server_cpu_us_per_call_second": round(1e6 * cpu / wall / count, 1),
    }


def load() -> dict[str, Any]:
    """Run the steps once (later calls return the same result)."""
    if _results:
        return _results
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="voip-bench-echo-") as directory:
        server, port, _log = _start_server(Path(directory), 1)
        try:
            for count in COUNTS:
                step = _step(count, server, port)
                steps.append(step)
                print(
                    f"  {count} echo calls: server {step['server_cpu_pct']} % CPU, "
                    f"lost {step['lost_pct']} %, late {step['late_pct']} %, "
                    f"{'passed' if step['passed'] else 'FAILED'}",
                    file=sys.stderr,
                    flush=True,
                )
                if not step["passed"]:
                    break
        finally:
            server.terminate()
            server.wait(timeout=15)
    passed = [step for step in steps if step["passed"]]
    _results.update(steps=steps, max_passing_calls=max((s["calls"] for s in passed), default=0))
    return _results


def per_call_second() -> dict[str, Any]:
    result = load()
    passed = [step for step in result["steps"] if step["passed"]]
    if not passed:
        raise RuntimeError(f"no step passed: {result['steps']}")
    figures = [step["server_cpu_us_per_call_second"] for step in passed]
    return {
        "median_us": passed[-1]["server_cpu_us_per_call_second"],
        "p90_us": max(figures),
        "min_us": min(figures),
        "rounds": len(passed),
        "max_passing_calls": result["max_passing_calls"],
        "target_calls": 400,
        "meets_target": result["max_passing_calls"] >= 400,
        "first_failing_step": next((s for s in result["steps"] if not s["passed"]), None),
        "median_of_passing_steps_us": statistics.median(figures),
    }


def table() -> dict[str, dict[str, Any]]:
    return {
        f"{step['calls']} calls{'' if step['passed'] else ' (FAILED)'}": {
            key: value for key, value in step.items() if key not in {"calls", "passed"}
        }
        for step in load()["steps"]
    }


MEASURED: dict[str, Callable[[], dict[str, Any]]] = {
    "media: concurrent PCMU echo calls, one process": per_call_second,
}
REPORTS: dict[str, Callable[[], object]] = {"echo_call_load": table}
