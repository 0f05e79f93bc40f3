"""baresip (a real softphone) against our stack, both ways, direct mode over UDP on loopback.

- baresip dials `voip serve --app echo`, speaking a sentence (espeak-ng WAV as its
  microphone); our echo app sends each utterance back; baresip records what it
  hears and hangs up at the end of its WAV. PCMU, G.722 and Opus, and G.722
  over IPv6.
- `voip call` dials baresip in auto-answer mode, plays a sentence, records the
  answer and hangs up.

baresip runs with its SIP trace on (``-s``), so the tests read the messages it
sent and received from its log, and sndfile dumps what it sent and heard.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from interop.peers import (
    best_match,
    double_rate,
    halve_rate,
    piecewise_match,
    read_wav,
    rms,
    voiced_seconds,
    wait_for,
)

from conftest import need
from voip_core import plugins

pytestmark = pytest.mark.interop

#: baresip's audio_codecs names (G.722 and Opus need rate/channels, FINDINGS.md §7b).
BARESIP_CODEC = {"PCMU": "PCMU", "G722": "G722/16000/1", "opus": "opus/48000/2"}


def have_codec(name: str) -> bool:
    return any(codec.encoding_name.lower() == name.lower() for codec in plugins.codecs())


def transaction_ok(trace: list[tuple[str, str, str]], direction: str, method: str) -> bool:
    """Whether a ``method`` request went ``direction`` and a 200 came back the other way.

    (baresip's 200 to an INVITE says "200 Answering", ours "200 OK".)
    """
    other = "in" if direction == "out" else "out"
    requests = {c for d, line, c in trace if d == direction and line.startswith(f"{method} ")}
    return any(
        d == other and line.startswith("SIP/2.0 200 ") and c in requests for d, line, c in trace
    )


@pytest.mark.parametrize(
    ("codec", "host"),
    [
        ("PCMU", "127.0.0.1"),
        ("G722", "127.0.0.1"),
        ("opus", "127.0.0.1"),
        ("G722", "::1"),
    ],
    ids=["PCMU", "G722", "opus", "G722-ipv6"],
)
def test_baresip_calls_our_echo_app_and_hears_its_words_back(
    codec, host, start_voip_server, start_baresip, speech
):
    need(have_codec(codec), f"codec {codec} is not installed (voip-opus plugin)")
    server = start_voip_server(host=host)
    alice = start_baresip(user="alice", host=host, codecs=BARESIP_CODEC[codec])

    alice.dial(server.address)
    alice.wait_event("CALL_ESTABLISHED", timeout=10)
    # baresip hangs up when its WAV ends (speech, then 4 s for the echo to come back)
    closed = alice.wait_event("CALL_CLOSED", timeout=30)
    assert "end of file" in str(closed.get("param", "")), closed

    # torn down: baresip's BYE got its 200 OK (the event comes before the answer)
    wait_for(lambda: transaction_ok(alice.sent_and_received(), "out", "BYE"), 5, "200 to BYE")
    trace = alice.sent_and_received()
    assert transaction_ok(trace, "out", "INVITE"), trace  # answered: 200 OK to the INVITE
    assert any(d == "out" and line.startswith("ACK ") for d, line, _ in trace), trace
    assert not any(d == "in" and line.startswith("SIP/2.0 4") for d, line, _ in trace), trace
    ended = wait_for(server.calls_ended, 5, "voip serve to log the call")
    assert len(ended) == 1 and f" codec {codec} " in ended[0], ended

    (heard, rate), (sent, sent_rate) = alice.recorded()
    assert rate == sent_rate
    spoken = voiced_seconds(sent, rate)
    assert spoken > 1.5, f"baresip sent only {spoken:.2f} s of speech"
    # media came back: loud, about as much speech as was sent (EchoCall echoes utterances) ...
    assert rms(heard) > 0.02, f"RMS of what baresip heard: {rms(heard):.4f}"
    echoed = voiced_seconds(heard, rate)
    assert echoed >= 0.8 * spoken, f"heard {echoed:.2f} s of voice, sent {spoken:.2f} s"
    # ... and it is our words: what baresip heard is a copy of what it said
    correlation = piecewise_match(sent, heard, rate)  # baresip drops a frame under load
    print(f"{codec} {host}: correlation {correlation:.3f}")
    assert correlation > 0.8, f"heard audio correlates {correlation:.3f} with the sent speech"


@pytest.mark.parametrize(
    ("codec", "host"), [("PCMU", "127.0.0.1"), ("G722", "::1")], ids=["PCMU", "G722-ipv6"]
)
def test_voip_call_reaches_baresip_in_auto_answer(
    codec, host, start_baresip, speech, long_speech, tmp_path
):
    bob = start_baresip(user="bob", host=host, codecs=BARESIP_CODEC[codec], wav=long_speech)
    record = tmp_path / "heard.wav"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "voip_core", "call", bob.address),
            *("--play", str(speech), "--record", str(record), "--timeout", "10"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"answered, codec {codec}," in result.stdout, result.stdout
    assert "hung up by us" in result.stdout, result.stdout

    bob.wait_event("CALL_ESTABLISHED", timeout=5)
    bob.wait_event("CALL_CLOSED", timeout=5)
    wait_for(lambda: transaction_ok(bob.sent_and_received(), "in", "BYE"), 5, "200 to our BYE")
    log = bob.log.read_text(errors="replace")
    assert "Call established" in log and "terminated" in log
    trace = bob.sent_and_received()
    assert transaction_ok(trace, "in", "INVITE"), trace  # baresip answered 200
    assert any(d == "in" and line.startswith("ACK ") for d, line, _ in trace), trace
    assert not any(d == "out" and line.startswith("SIP/2.0 4") for d, line, _ in trace), trace

    # both directions carried speech: baresip heard our sentence, we heard its one
    (bob_heard, bob_rate), _ = bob.recorded()
    ours, our_rate = read_wav(speech)
    assert our_rate == 16000
    if bob_rate == 8000:
        ours = halve_rate(ours)
    assert rms(bob_heard) > 0.01, f"RMS of what baresip heard: {rms(bob_heard):.4f}"
    correlation, _ = best_match(ours[: 4 * bob_rate], bob_heard)
    print(f"{codec} {host}: baresip heard our words: correlation {correlation:.3f}")
    assert correlation > 0.8

    we_heard, we_rate = read_wav(record)
    theirs, _ = read_wav(long_speech)
    assert we_rate == 16000
    assert voiced_seconds(we_heard, we_rate) > 1.0
    if codec == "PCMU":
        theirs = double_rate(halve_rate(theirs))  # what 8 kHz can carry of it
    # piece by piece: baresip's sender drops a 20 ms frame now and then under load
    correlation = piecewise_match(theirs[: 4 * we_rate], we_heard, we_rate)
    print(f"{codec} {host}: we heard baresip's words: correlation {correlation:.3f}")
    assert correlation > 0.8
