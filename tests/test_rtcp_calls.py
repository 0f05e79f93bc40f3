"""RTCP between two of our user agents: reports both ways, RTT, statistics, MOS, BYE."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from voip_core import AudioCall, EchoCall
from voip_core.rtp.rtcp import Bye, ReceiverReport, SenderReport, parse_compound
from voip_core.sip.useragent import UserAgent


class Talker(AudioCall):
    rtcp_minimum_interval = 0.2  # reports every 0.1-0.3 s instead of 2.5-7.5 s
    comfort_silence = True  # a steady stream both ways, as carriers send


class Echo(EchoCall):
    rtcp_minimum_interval = 0.2
    comfort_silence = True


@pytest.mark.parametrize(
    ("mux", "srtp"), [(True, "off"), (False, "off"), (True, "require"), (False, "require")]
)
async def test_reports_flow_both_ways_and_give_the_call_s_figures(mux, srtp):
    callee = UserAgent(app=Echo, rtcp_mux=mux, srtp=srtp)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=Talker, rtcp_mux=mux, srtp=srtp)
    await caller.listen("127.0.0.1", 0)
    try:
        call = await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=5)
        (theirs,) = callee.dialogs.values()
        assert call.session.rtcp_mux == theirs.session.rtcp_mux == mux
        if not mux:
            host, rtp_port = theirs.session.rtp.local_address
            assert call.session.rtcp_address == (host, rtp_port + 1)
        await asyncio.sleep(1.5)
        for session in (call.session, theirs.session):
            rtcp = session.rtcp
            assert rtcp.reports_sent >= 3 and rtcp.reports_received >= 3
            assert rtcp.malformed == 0 and session.rtcp_failures == 0
            stats = session.stats
            assert stats.packets_received >= 60 and stats.lost == 0
            assert stats.round_trip_time is not None and 0 <= stats.round_trip_time < 0.1
            assert stats.remote_fraction_lost == 0.0
            assert 4.0 < stats.mos <= 4.5
        if srtp == "require":
            assert call.session.srtp.outbound.protected > call.session.packets_sent  # + SRTCP
    finally:
        caller.close()
        callee.close()


async def test_the_last_report_carries_a_bye():
    sent = []

    class Recording(Talker):
        def send_rtcp(self, data):
            sent.append(data)
            super().send_rtcp(data)

    callee = UserAgent(app=Echo)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=Recording)
    await caller.listen("127.0.0.1", 0)
    try:
        call = await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=5)
        await asyncio.sleep(0.5)
        call.bye()
        await asyncio.sleep(0.1)
    finally:
        caller.close()
        callee.close()
    first = parse_compound(sent[0])
    assert isinstance(first[0], SenderReport | ReceiverReport)
    last = parse_compound(sent[-1])
    assert isinstance(last[-1], Bye) and last[-1].sources == (call.session.ssrc,)


async def test_loss_shows_in_the_figures_and_lowers_the_mos():
    callee = UserAgent(app=Echo)
    _, port = await callee.listen("127.0.0.1", 0)

    class Lossy(Talker):
        def send_packet(self, packet):
            if packet.sequence_number % 10 == 3:  # 10 % lost on the way
                return
            super().send_packet(packet)

    caller = UserAgent(app=Lossy)
    await caller.listen("127.0.0.1", 0)
    try:
        call = await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=5)
        t = np.arange(16000) / 16000
        call.session.send_audio((0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32))
        # What the callee reports is the fraction lost since its previous report
        # [RFC 3550 §6.4.1]: 0 for an interval after the audio or without a loss.
        reported = []
        for _ in range(30):
            await asyncio.sleep(0.05)
            reported.append(call.session.stats.remote_fraction_lost)
        (theirs,) = callee.dialogs.values()
        stats = theirs.session.stats
        assert 0.05 < stats.fraction_lost < 0.15
        assert max((r for r in reported if r is not None), default=0.0) > 0.0
        assert stats.mos < 4.2
    finally:
        caller.close()
        callee.close()


FIRST_PACKET_SCRIPT = """
import asyncio, sys
import numpy as np
from voip_core import AudioCall, EchoCall
from voip_core.sip.useragent import UserAgent

async def main():
    callee = UserAgent(app=EchoCall)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=AudioCall)
    await caller.listen("127.0.0.1", 0)
    call = await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=5)
    (theirs,) = callee.dialogs.values()
    before = set(sys.modules)
    call.session.send_audio(np.full(1600, 0.3, np.float32))
    while theirs.session.packets_received == 0 or theirs.session.rtcp is None:
        await asyncio.sleep(0.005)
    print(sorted(set(sys.modules) - before))
    caller.close()
    callee.close()

asyncio.run(main())
"""


def test_the_first_packet_of_a_call_imports_nothing():
    """RTCP starts with a call's first packet: its code is loaded before, not then.

    An import there (tens of ms when the module is compiled) held the first
    packet back while the next ones went on time: the far end's jitter
    buffer, anchored on the late first packet, then dropped a frame of speech.
    """
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FIRST_PACKET_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
