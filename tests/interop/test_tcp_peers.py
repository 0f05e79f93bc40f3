"""`voip serve` over TCP: sipp's UAC scenario and baresip calling over a connection."""

from __future__ import annotations

import pytest
from interop.peers import piecewise_match, rms, wait_for

from .test_sipp_against_serve import run_sipp, successful_calls

pytestmark = pytest.mark.interop


def test_sipp_over_tcp_50_calls(start_voip_server, tmp_path):
    server = start_voip_server(transports=("udp", "tcp"))
    report = run_sipp(server.port, tmp_path, "-t", "t1", "-m", "50", "-r", "25")
    assert successful_calls(report) == 50
    wait_for(lambda: len(server.calls_ended()) == 50, 10, "50 call lines")


def test_baresip_calls_us_over_tcp_and_hears_its_words(start_voip_server, start_baresip):
    server = start_voip_server(transports=("tcp",))
    alice = start_baresip(user="alice")
    alice.dial(f"{server.address};transport=tcp")
    alice.wait_event("CALL_ESTABLISHED", timeout=10)
    alice.wait_event("CALL_CLOSED", timeout=30)  # the WAV ends: alice hangs up
    invite = next(m for m in alice.sip_trace() if m.split("\n", 2)[1].startswith("INVITE "))
    assert invite.startswith("TCP "), invite[:80]
    ok = next(m for m in alice.sip_trace() if m.split("\n", 2)[1].startswith("SIP/2.0 200 "))
    assert ";transport=tcp>" in ok  # our Contact names the transport
    wait_for(lambda: server.calls_ended(), 5, "the call's log line")
    (heard, rate), (sent, _) = alice.recorded()
    assert rms(heard) > 0.02
    assert piecewise_match(sent, heard, rate) > 0.8  # baresip drops a frame under load
