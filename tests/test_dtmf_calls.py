"""DTMF between two of our user agents on loopback: RFC 4733 events in RTP, and SIP INFO."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import numpy as np
import pytest

from voip_core import AudioCall
from voip_core.codecs import G722, PCMU
from voip_core.rtp.dtmf import TelephoneEvent
from voip_core.rtp.packet import RTPPacket
from voip_core.sip.useragent import UserAgent


class Keypad(AudioCall):
    """Keeps the digits it hears, and every RTP packet it sends."""

    heard: ClassVar[list[tuple[str, float | None]]]
    sent: ClassVar[list[RTPPacket]]

    def dtmf_received(self, digit, duration):
        self.heard.append((digit, duration))

    def send_packet(self, packet):
        self.sent.append(packet)
        super().send_packet(packet)


def keypad(codec=None):
    attributes = {"heard": [], "sent": []}
    if codec is not None:
        attributes["supported_codecs"] = (codec,)
    return type("K", (Keypad,), attributes)


async def call_between(caller_app, callee_app):
    callee = UserAgent(app=callee_app)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=caller_app)
    await caller.listen("127.0.0.1", 0)
    dialog = await caller.dial(f"sip:keys@127.0.0.1:{port}", timeout=5)
    return caller, callee, dialog


async def wait_for(condition, timeout=3.0):
    for _ in range(round(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("codec", [PCMU, G722])
async def test_digits_sent_as_rfc_4733_events_arrive_once_each(codec):
    caller_app, callee_app = keypad(codec), keypad()
    caller, callee, dialog = await call_between(caller_app, callee_app)
    try:
        session = dialog.session
        assert session.telephone_event_payload_type is not None  # negotiated in SDP
        await session.send_dtmf("12#*", tone_duration=0.08, gap=0.04)
        await wait_for(lambda: len(callee_app.heard) == 4)
        assert [digit for digit, _ in callee_app.heard] == list("12#*")
        assert all(duration == pytest.approx(0.08, abs=0.021) for _, duration in callee_app.heard)
        events = [
            p for p in caller_app.sent if p.payload_type == session.telephone_event_payload_type
        ]
        starts = [p for p in events if p.marker]
        assert len(starts) == 4  # the marker bit opens each event [RFC 4733 §2.5.1.1]
        ends = [p for p in events if TelephoneEvent.parse(p.payload).end]
        assert len(ends) == 4 * 3  # each end packet three times, each a new sequence number
        numbers = [p.sequence_number for p in events]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    finally:
        caller.close()
        callee.close()


async def test_audio_after_digits_goes_on_with_the_stream_s_timestamps():
    caller_app, callee_app = keypad(PCMU), keypad()
    caller, callee, dialog = await call_between(caller_app, callee_app)
    try:
        session = dialog.session
        tone = (0.3 * np.sin(np.arange(3200) / 16000 * 2 * np.pi * 440)).astype(np.float32)
        session.send_audio(tone)
        await asyncio.sleep(0.1)
        await session.send_dtmf("5")
        await wait_for(lambda: not session.sending)
        packets = caller_app.sent
        kinds = [p.payload_type == 0 for p in packets]
        assert kinds[0] and not all(kinds)  # audio, then the event
        # One stream: one SSRC, sequence numbers without a gap, timestamps never going back.
        assert len({p.ssrc for p in packets}) == 1
        numbers = [p.sequence_number for p in packets]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        stamps = [p.timestamp for p in packets]
        assert stamps == sorted(stamps)
        await wait_for(lambda: callee_app.heard)
        assert [digit for digit, _ in callee_app.heard] == ["5"]
    finally:
        caller.close()
        callee.close()


async def test_digits_sent_in_sip_info_arrive():
    caller_app, callee_app = keypad(PCMU), keypad()
    caller, callee, dialog = await call_between(caller_app, callee_app)
    try:
        await dialog.send_dtmf_info("9#", duration=0.16)
        assert callee_app.heard == [("9", 0.16), ("#", 0.16)]
        with pytest.raises(ValueError, match="x"):
            await dialog.send_dtmf_info("1x")
    finally:
        caller.close()
        callee.close()


async def test_a_bad_digit_is_refused_before_anything_is_sent():
    caller_app, callee_app = keypad(PCMU), keypad()
    caller, callee, dialog = await call_between(caller_app, callee_app)
    try:
        with pytest.raises(ValueError):
            dialog.session.send_dtmf("12E")
        assert not [p for p in caller_app.sent if p.payload_type != 0]
    finally:
        caller.close()
        callee.close()
