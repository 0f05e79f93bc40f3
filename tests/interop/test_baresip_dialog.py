"""baresip changes our call: blind transfer (REFER, RFC 3515) and hold/resume (re-INVITE)."""

from __future__ import annotations

import pytest
from interop.peers import wait_for

pytestmark = pytest.mark.interop


def test_baresip_transfers_our_call_to_another_baresip(
    start_voip_server, start_baresip, long_speech
):
    server = start_voip_server()
    bob = start_baresip(user="bob", wav=long_speech)
    alice = start_baresip(user="alice", wav=long_speech)
    alice.dial(server.address)
    alice.wait_event("CALL_ESTABLISHED", timeout=10)
    response = alice.command("transfer", bob.address)
    assert response.get("ok"), response
    # Our user agent accepted the REFER, called bob (who answers by himself), and
    # reported the outcome in NOTIFYs with a sipfrag body.
    established = bob.wait_event("CALL_ESTABLISHED", timeout=15)
    assert "sip:voip@127.0.0.1" in str(established), established
    wait_for(
        lambda: any(
            d == "in" and line.startswith("NOTIFY ") for d, line, _ in alice.sent_and_received()
        ),
        10,
        "a NOTIFY at alice",
    )
    trace = alice.sent_and_received()
    refer_answers = [line for d, line, c in trace if d == "in" and c.endswith(" REFER")]
    assert refer_answers == ["SIP/2.0 202 Accepted"], trace
    notifies = [m for m in alice.sip_trace() if m.split("\n", 2)[1].startswith("NOTIFY ")]
    assert "Event: refer" in notifies[0] and "message/sipfrag" in notifies[0]
    wait_for(
        lambda: any(
            "SIP/2.0 200" in m
            for m in alice.sip_trace()
            if m.split("\n", 2)[1].startswith("NOTIFY ")
        ),
        10,
        "the final NOTIFY (200) at alice",
    )
    bob.command("hangup")
    bob.wait_event("CALL_CLOSED", timeout=10)


def test_baresip_holds_and_resumes_our_call(start_voip_server, start_baresip, long_speech):
    server = start_voip_server()
    alice = start_baresip(user="alice", wav=long_speech)
    alice.dial(server.address)
    alice.wait_event("CALL_ESTABLISHED", timeout=10)

    def invite_oks():
        return [
            m
            for m in alice.sip_trace()
            if m.split("\n", 2)[1].startswith("SIP/2.0 200") and " INVITE\n" in m
        ]

    for count, command in enumerate(("hold", "resume"), start=2):
        assert alice.command(command).get("ok") is not False
        wait_for(lambda count=count: len(invite_oks()) >= count, 10, f"our 200 to {command}")
    oks = invite_oks()
    # baresip offered sendonly, then sendrecv; we answered recvonly, then sendrecv.
    assert len(oks) == 3 and "a=recvonly" in oks[1] and "a=sendrecv" in oks[2]
    alice.command("hangup")
    alice.wait_event("CALL_CLOSED", timeout=10)
    wait_for(lambda: server.calls_ended(), 5, "the call's log line")
