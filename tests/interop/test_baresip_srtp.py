"""SRTP with baresip (libre's own SRTP, not libsrtp): SDES keys in SDP, RTP/SAVP, both ways."""

from __future__ import annotations

import subprocess
import sys

import pytest
from interop.peers import best_match, piecewise_match, read_wav, rms, voiced_seconds, wait_for

pytestmark = pytest.mark.interop


def test_baresip_with_mandatory_srtp_hears_its_words_back(start_voip_server, start_baresip):
    server = start_voip_server(extra=("--srtp", "require"))
    alice = start_baresip(user="alice", codecs="PCMU", mediaenc="srtp-mand")
    alice.dial(server.address)
    alice.wait_event("CALL_ESTABLISHED", timeout=10)
    alice.wait_event("CALL_CLOSED", timeout=30)
    ended = wait_for(server.calls_ended, 5, "voip serve to log the call")
    assert " srtp AES_CM_128_HMAC_SHA1_80" in ended[0], ended
    log = alice.log.read_text(errors="replace")
    assert "RTP/SAVP" in log and "a=crypto:" in log
    assert "SRTP dropped" not in server.log.read_text()  # every packet authenticated
    (heard, rate), (sent, _) = alice.recorded()
    assert voiced_seconds(heard, rate) >= 0.8 * voiced_seconds(sent, rate)
    correlation = piecewise_match(sent[: 4 * rate], heard, rate)
    assert correlation > 0.8, f"heard audio correlates {correlation:.3f} with the sent speech"


def test_voip_call_with_srtp_reaches_baresip(start_baresip, speech, long_speech, tmp_path):
    bob = start_baresip(user="bob", codecs="PCMU", wav=long_speech, mediaenc="srtp-mand")
    record = tmp_path / "heard.wav"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "voip_core", "call", bob.address, "--srtp", "require"),
            *("--play", str(speech), "--record", str(record), "--timeout", "10"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answered, codec PCMU," in result.stdout, result.stdout
    bob.wait_event("CALL_CLOSED", timeout=10)
    (bob_heard, bob_rate), _ = bob.recorded()
    ours, _ = read_wav(speech)
    assert rms(bob_heard) > 0.01  # baresip decrypted our words
    correlation, _ = best_match(ours[::2][: 4 * bob_rate], bob_heard)
    assert correlation > 0.8, f"baresip heard our words with correlation {correlation:.3f}"
    we_heard, we_rate = read_wav(record)
    assert voiced_seconds(we_heard, we_rate) > 1.0  # and we decrypted its


def test_mandatory_srtp_against_plain_rtp_is_refused_with_488(start_voip_server, start_baresip):
    server = start_voip_server()  # --srtp off
    alice = start_baresip(user="alice", codecs="PCMU", mediaenc="srtp-mand")
    alice.dial(server.address)
    alice.wait_event("CALL_CLOSED", timeout=10)
    trace = alice.sent_and_received()
    assert any(d == "in" and line.startswith("SIP/2.0 488") for d, line, _ in trace), trace
