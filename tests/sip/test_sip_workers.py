"""`voip serve --workers N`: the relay's routing by Call-ID, and the processes' life.

The calls themselves (sipp's 200 calls, loss, torture messages, a registered
worker through kamailio) run against 2 workers in tests/interop.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import free_port, run_voip
from voip_core.errors import ParseError
from voip_core.sip import parse_message
from voip_core.sip.endpoint import SIPEndpoint
from voip_core.sip.workers import call_id_of, owner, pack, port_slice, unpack

REQUEST = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK77\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:al@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
    "{call_id}"
    "CSeq: 1 INVITE\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n{body}"
)


def request(call_id_line: str, body: str = "", line_end: str = "\r\n") -> bytes:
    text = REQUEST.format(call_id=call_id_line, length=len(body.encode()), body=body)
    return text.replace("\r\n", line_end).encode()


@pytest.mark.parametrize(
    "line",
    [
        "Call-ID: a84b4c76e66710@pc33\r\n",
        "call-id:a84b4c76e66710@pc33\r\n",
        "CALL-ID \t:  a84b4c76e66710@pc33 \t\r\n",
        "i: a84b4c76e66710@pc33\r\n",
        "I:a84b4c76e66710@pc33\r\n",
    ],
)
def test_the_call_id_in_every_spelling(line):
    assert call_id_of(request(line)) == b"a84b4c76e66710@pc33"
    assert call_id_of(request(line, line_end="\n")) == b"a84b4c76e66710@pc33"


def test_only_the_head_names_the_call_id():
    assert call_id_of(request("", body="\r\nCall-ID: from-the-body\r\n")) == b""
    assert call_id_of(request("Call-ID: real\r\n", body="\r\ni: body\r\n")) == b"real"
    assert call_id_of(b"") == b""
    assert call_id_of(b"\r\n\r\n") == b""
    assert call_id_of(b"Call-ID: x\r\n\r\n") == b""  # no start line: not a header line


@given(st.binary(max_size=2000))
def test_any_bytes_give_bytes(data):
    assert isinstance(call_id_of(data), bytes)


# RFC 3261 §25.1 word: what a Call-ID is made of.
WORD = st.text(alphabet="abcXYZ019-.!%*_+`'~()<>:\\\"/[]?{}", min_size=1, max_size=40).filter(
    lambda text: text[0] != '"' or len(text) > 1
)
CALL_IDS = st.builds(lambda a, b: f"{a}@{b}" if b else a, WORD, st.none() | WORD)


@given(
    CALL_IDS,
    st.sampled_from(["Call-ID", "call-id", "CALL-ID", "Call-Id", "i", "I"]),
    st.sampled_from(["", " ", "\t", "  "]),
    st.sampled_from(["", " ", " \t "]),
    st.text(alphabet="ab =\r\n:iCal-ID", max_size=60),
)
def test_the_relay_reads_the_call_id_the_parser_reads(call_id, name, before, after, body):
    data = request(f"{name}{before}:{after}{call_id}{after}\r\n", body=body)
    assert call_id_of(data) == call_id.encode()
    try:
        message = parse_message(data)
    except ParseError:
        return
    assert message.call_id == call_id


def test_the_relay_agrees_with_the_parser_on_every_vector(vectors: Path):
    torture = vectors / "rfc4475"
    files = [
        torture / name for name in json.loads((torture / "manifest.json").read_text())["files"]
    ]
    files += sorted((vectors / "realworld").glob("*.sip"))
    agreed = 0
    for path in files:
        data = path.read_bytes()
        try:
            call_id = parse_message(data).call_id
        except ParseError:  # unparseable, or no Call-ID: worker 0 answers or drops it
            continue
        assert call_id_of(data).decode() == call_id, path.name
        agreed += 1
    assert agreed >= 20


@given(CALL_IDS, st.integers(1, 64))
def test_an_owner_is_one_of_the_workers(call_id, count):
    assert 0 <= owner(call_id.encode(), count) < count
    assert owner(call_id.encode(), 1) == 0


HOSTS = st.ip_addresses().map(str) | st.just("fe80::1%eth0")


@given(st.binary(max_size=600), HOSTS, st.integers(0, 65535))
def test_a_relayed_datagram_keeps_its_bytes_and_sender(datagram, host, port):
    relayed = pack(datagram, (host, port))
    assert unpack(relayed) == (datagram, (host, port))
    assert len(relayed) - len(datagram) <= 96  # RELAY_HEAD_SIZE


@given(st.integers(1024, 60000), st.integers(4, 5000), st.integers(1, 16))
def test_port_slices_are_even_disjoint_and_inside_the_range(low, size, count):
    ports = (low, low + size)
    try:
        slices = [port_slice(ports, index, count) for index in range(count)]
    except ValueError:
        assert size // count < 4  # too few for an RTP+RTCP pair each
        return
    for start, end in slices:
        assert start % 2 == 0 and end - start >= 2
        assert ports[0] <= start < end <= ports[1]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(slices))


async def test_a_worker_makes_call_ids_routed_back_to_it():
    endpoint = SIPEndpoint()
    endpoint.owns_call_id = lambda call_id: owner(call_id.encode(), 3) == 2
    call_ids = {endpoint.new_call_id("198.51.100.7") for _ in range(50)}
    assert len(call_ids) == 50
    assert all(owner(c.encode(), 3) == 2 and c.endswith("@198.51.100.7") for c in call_ids)
    endpoint.owns_call_id = None
    assert {owner(endpoint.new_call_id("h").encode(), 3) for _ in range(60)} == {0, 1, 2}
    endpoint.close()


# The processes -----------------------------------------------------------------------------


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    port = free_port()
    log = tmp_path / "serve.log"
    arguments = ("serve", "--listen", f"127.0.0.1:{port}", "--app", "echo", "--workers", "2")
    return run_voip(log, *arguments, *extra), log, port


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.05)


def workers_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        pytest.skip("needs Linux's /proc/PID/task/PID/children")
    return [int(each) for each in children.read_text().split()]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().rpartition(")")[2].split()[0] == "Z"


def test_a_call_through_two_workers_hears_itself_and_sigterm_ends_them_all(tmp_path):
    process, log, port = start(tmp_path)
    try:
        wait_for(lambda: "listening on" in log.read_text(), 20, "listening line")
        assert f"listening on 127.0.0.1:{port} (udp), app echo, 2 workers" in log.read_text()
        workers = workers_of(process.pid)
        assert len(workers) == 2
        recording = tmp_path / "heard.wav"
        call = subprocess.run(
            [
                *(sys.executable, "-m", "voip_core", "call", f"sip:echo@127.0.0.1:{port}"),
                *("--duration", "1", "--record", str(recording)),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert call.returncode == 0, call.stderr
        assert "answered, codec" in call.stdout
        wait_for(lambda: "call from" in log.read_text(), 5, "call line")
        assert " worker " in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=30)
    assert status == 0, log.read_text()
    assert all(gone(pid) for pid in workers)
    assert "Traceback" not in log.read_text()


def test_a_worker_that_dies_stops_the_server_with_an_error(tmp_path):
    process, log, _ = start(tmp_path)
    try:
        wait_for(lambda: "listening on" in log.read_text(), 20, "listening line")
        first, second = workers_of(process.pid)
        os.kill(second, signal.SIGKILL)
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert status != 0
    assert "worker 1 ended (status -9); stopping" in log.read_text()
    assert gone(first)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--transport", "tcp"], "--workers serves UDP only"),
        (["--rtp-ports", "20000-20002"], "too few for 2 workers"),
        (["--app", "no-such-app"], "no app named 'no-such-app'"),
    ],
)
def test_what_workers_cannot_do_is_refused_once(tmp_path, extra, message):
    process, log, _ = start(tmp_path, *extra)
    assert process.wait(timeout=30) == 2
    assert log.read_text().count(message) == 1, log.read_text()
