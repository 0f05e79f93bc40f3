"""Every RFC 4475 torture message and real-world capture, sent over UDP to `voip serve`.

The server must answer what it can answer as the RFC says and never go down:
after the whole set it still answers an OPTIONS and exits cleanly.
"""

from __future__ import annotations

import contextlib
import json
import socket

import pytest

from voip_core.sip import parse_message

pytestmark = pytest.mark.interop


def options(port: int, client_port: int, branch: str) -> bytes:
    return (
        f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{client_port};branch=z9hG4bK-{branch};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
        f"Call-ID: probe-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_torture_and_real_world_messages_never_take_the_server_down(serve, vectors):
    port, output = serve
    torture = vectors / "rfc4475"
    realworld = vectors / "realworld"
    files = [
        torture / name for name in json.loads((torture / "manifest.json").read_text())["files"]
    ]
    files.append(torture / "test.dat")
    files += sorted(realworld.glob("*.sip"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(2)
        client_port = client.getsockname()[1]
        for number, path in enumerate(files):
            # A Via of ours on top: answers come back here, never to the example
            # hosts the messages name (a message too broken for it is dropped).
            via = f"\r\nVia: SIP/2.0/UDP 127.0.0.1:{client_port};branch=z9hG4bK-{number};rport\r\n"
            data = path.read_bytes().replace(b"\r\n", via.encode(), 1)
            client.sendto(data[:65507], ("127.0.0.1", port))
            if number % 10 == 9:  # still alive halfway through
                client.sendto(options(port, client_port, f"mid{number}"), ("127.0.0.1", port))
        answers = {}
        client.sendto(options(port, client_port, "end"), ("127.0.0.1", port))
        expected_probes = 1 + len(files) // 10
        # Every probe answered (a timeout fails the test), then whatever is still on its
        # way: with worker processes, answers from different ones may pass each other.
        while sum(call_id.startswith("probe-") for call_id in answers) < expected_probes:
            data, _ = client.recvfrom(65535)
            response = parse_message(data)
            answers[response.headers.get("Call-ID") or "?"] = response.status_code
        client.settimeout(0.3)
        with contextlib.suppress(TimeoutError):
            while True:
                response = parse_message(client.recvfrom(65535)[0])
                answers[response.headers.get("Call-ID") or "?"] = response.status_code
    probes = {call_id: code for call_id, code in answers.items() if call_id.startswith("probe-")}
    assert set(probes.values()) == {200}
    assert len(probes) == expected_probes
    # Answered back to us with codes a UA gives: OPTIONS 200, 400 for what is broken,
    # 405/501 for methods it does not process or know, 415/416/420/406 (RFC 4475
    # §3.3), 481 without a dialog, 488 for bad SDP, 505 for other versions.
    others = set(answers.values()) - {200}
    assert {400, 405, 415, 416, 420, 501, 505} <= others
    assert others <= {100, 180, 400, 405, 406, 415, 416, 420, 481, 488, 501, 505}
    assert "Traceback" not in output.read_text()
