"""MediaClock: one loop timer for every call's media, entries in order and never late."""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voip_core.rtp import clock as clock_module
from voip_core.rtp.clock import MediaClock, MediaReader
from voip_core.rtp.packet import RTPPacket
from voip_core.rtp.protocol import RealtimeTransportProtocol
from voip_core.rtp.session import Session
from voip_core.sdp import MediaDescription
from voip_core.sdp.negotiation import MediaFormat


class _ManualLoop:
    """A loop stand-in whose time the test moves: ``call_at`` handles in a heap."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def get_debug(self) -> bool:
        return False

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        pass

    def call_at(self, when: float, callback: Callable[..., object]) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, (), self)  # type: ignore[arg-type]
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def advance(self, until: float) -> None:
        """Fire every live timer due by ``until``, each at its own time."""
        while self._timers and self._timers[0][0] <= until:
            when, _, handle = heapq.heappop(self._timers)
            if not handle.cancelled():
                self.now = max(self.now, when)
                handle._run()
        self.now = until

    def live_timers(self) -> int:
        return sum(not handle.cancelled() for _, _, handle in self._timers)


def test_entries_run_in_order_within_the_tolerance_and_never_late() -> None:
    loop = _ManualLoop()
    clock = MediaClock(loop, tolerance=0.001)  # type: ignore[arg-type]
    ran: list[tuple[str, float]] = []
    for name, when in (("c", 0.030), ("a", 0.010), ("b", 0.0105), ("d", 0.040)):
        clock.at(when, lambda n: ran.append((n, loop.now)), name)
    loop.advance(0.1)
    assert [name for name, _ in ran] == ["a", "b", "c", "d"]
    # b was due 0.5 ms after a: it ran in a's wake-up, early by less than the tolerance.
    assert ran[1][1] == ran[0][1] == 0.010
    assert clock.wakeups == 3
    assert not len(clock)


def test_cancelled_entries_do_not_run_nor_wake_the_loop() -> None:
    loop = _ManualLoop()
    clock = MediaClock(loop)  # type: ignore[arg-type]
    ran: list[int] = []
    first = clock.at(0.01, ran.append, 1)
    clock.at(0.02, ran.append, 2)
    MediaClock.cancel(first)
    loop.advance(0.05)
    assert ran == [2]
    assert clock.wakeups == 2  # the timer armed for the first fires, and finds it cancelled
    # Cancelled at the head after a run: no timer stays armed for it.
    last = clock.at(0.06, ran.append, 3)
    MediaClock.cancel(last)
    clock.at(0.055, ran.append, 4)
    loop.advance(0.1)
    assert ran == [2, 4]
    assert loop.live_timers() == 0 and not len(clock)


def test_an_earlier_entry_added_by_a_callback_is_not_held_back() -> None:
    """While entries run, new ones arm nothing; afterwards the earliest of all is armed."""
    loop = _ManualLoop()
    clock = MediaClock(loop)  # type: ignore[arg-type]
    ran: list[tuple[str, float]] = []
    clock.at(0.050, lambda _: ran.append(("late", loop.now)))

    def first(_: object) -> None:
        ran.append(("first", loop.now))
        clock.at(0.080, lambda _: ran.append(("added later", loop.now)))
        clock.at(0.020, lambda _: ran.append(("added sooner", loop.now)))

    clock.at(0.010, first)
    loop.advance(0.1)
    assert ran == [
        ("first", 0.010),
        ("added sooner", 0.020),
        ("late", 0.050),
        ("added later", 0.080),
    ]


def test_a_failing_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = _ManualLoop()
    clock = MediaClock(loop)  # type: ignore[arg-type]
    ran: list[int] = []

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    clock.at(0.01, broken)
    clock.at(0.01, ran.append, 1)
    with caplog.at_level(logging.ERROR, logger="voip_core.rtp.clock"):
        loop.advance(0.02)
    assert ran == [1]
    assert "boom" in caplog.text
    clock.at(0.03, ran.append, 2)  # the clock goes on
    loop.advance(0.04)
    assert ran == [1, 2]


def test_many_calls_share_few_wakeups() -> None:
    """200 calls a packet apart by 0.1 ms: a wake-up per millisecond, not one per call."""
    loop = _ManualLoop()
    clock = MediaClock(loop, tolerance=0.001)  # type: ignore[arg-type]
    count = 0

    def tick(start_and_index: tuple[float, int]) -> None:
        nonlocal count
        start, index = start_and_index
        count += 1
        assert loop.now >= start + index * 0.02 - 0.001 - 1e-9
        if index < 24:
            clock.at(start + (index + 1) * 0.02, tick, (start, index + 1))

    for call in range(200):
        start = call * 0.0001
        clock.at(start, tick, (start, 0))
    loop.advance(0.6)
    assert count == 200 * 25
    # Each wake-up takes what falls due in the next millisecond: about 18 per 20 ms.
    assert clock.wakeups <= 25 * 20


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 1.0), st.booleans(), st.floats(0.0, 1.2)),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.0, 0.01),
)
def test_every_live_entry_runs_once_in_order_and_never_late(
    plan: list[tuple[float, bool, float]], tolerance: float
) -> None:
    """Entries made at random times, some cancelled, with the loop advanced in steps."""
    loop = _ManualLoop()
    clock = MediaClock(loop, tolerance=tolerance)  # type: ignore[arg-type]
    ran: list[tuple[int, float]] = []
    wanted: dict[int, float] = {}
    entries: dict[int, Any] = {}
    steps = sorted({made for _, _, made in plan} | {2.0})
    by_step: dict[float, list[int]] = {}
    for index, (_, _, made) in enumerate(plan):
        by_step.setdefault(made, []).append(index)
    for step in steps:
        loop.advance(step)
        for index in by_step.get(step, []):
            when, cancel, _ = plan[index]
            when = max(when, step)  # a media entry is made for now or later
            entries[index] = clock.at(when, lambda i: ran.append((i, loop.now)), index)
            if cancel:
                MediaClock.cancel(entries[index])
            else:
                wanted[index] = when
    loop.advance(3.0)
    assert sorted(index for index, _ in ran) == sorted(wanted)
    for index, at in ran:
        assert wanted[index] - tolerance - 1e-12 <= at <= wanted[index] + 1e-12
    order = [wanted[index] for index, _ in ran]
    assert all(a <= b + tolerance for a, b in itertools.pairwise(order))
    assert loop.live_timers() == 0


async def test_one_clock_per_loop() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock.of(loop)
    assert MediaClock.of(loop) is clock
    done = loop.create_future()
    clock.at(loop.time() + 0.005, done.set_result, "ran")
    assert await asyncio.wait_for(done, 1) == "ran"


def _reader(loop: asyncio.AbstractEventLoop) -> MediaReader:
    reader = MediaReader.of(loop)
    if reader is None:
        pytest.skip("this system's selector cannot be watched by the loop (no epoll or kqueue)")
    return reader


async def test_calls_sockets_are_read_in_batches() -> None:
    """A burst to two calls' sockets comes in few batches; closing them lets the reader go."""
    loop = asyncio.get_running_loop()
    reader = _reader(loop)
    pcmu = MediaFormat(payload_type=0, encoding_name="PCMU", clock_rate=8000)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    host, port = sender.getsockname()
    endpoints, calls = [], []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        rtp = RealtimeTransportProtocol.on_socket(sock)
        endpoints.append(rtp)
        media = MediaDescription.for_formats([pcmu], port=port, address=host)
        calls.append(Session(rtp=rtp, media=media))
    before = reader.batches
    for number in range(10):
        for rtp in endpoints:
            packet = RTPPacket(payload_type=0, sequence_number=number, timestamp=160, ssrc=9)
            sender.sendto(packet.serialize(), rtp.local_address)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if all(call.packets_received == 10 for call in calls):
            break
    assert [call.packets_received for call in calls] == [10, 10]
    # One datagram per socket per batch: ten batches took all twenty.
    assert reader.batches - before <= 12
    for call, rtp in zip(calls, endpoints, strict=True):
        call.close()  # a call's own endpoint closes with it
        assert rtp.transport is None or rtp.transport.is_closing()
    assert not reader._selector.get_map() and not reader._watching
    sender.close()


async def test_steady_traffic_is_polled_without_touching_the_loops_watch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While every poll finds a datagram, the loop's watch stays off; an idle poll restores it."""
    loop = asyncio.get_running_loop()
    reader = _reader(loop)
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    heard: list[bytes] = []
    reader.add_reader(right.fileno(), lambda: heard.append(right.recv(16)))
    watches: list[bool] = []
    monkeypatch.setattr(loop, "add_reader", lambda *args: watches.append(True))
    monkeypatch.setattr(loop, "remove_reader", lambda *args: watches.append(False))

    def poll_scheduled() -> bool:
        """Whether the reader asked the clock for its next poll; the test runs it instead."""
        entry = reader._resuming
        if entry is None:
            return False
        MediaClock.cancel(entry)
        reader._resuming = None
        return True

    left.send(b"0")
    reader._ready()  # as the loop does when the first datagram comes
    assert watches == [False] and poll_scheduled()
    for number in range(1, 6):  # a datagram came in every interval
        left.send(str(number).encode())
        reader._resume()
        assert poll_scheduled()
    assert heard == [str(number).encode() for number in range(6)]
    assert watches == [False]  # the loop's watch was left alone meanwhile
    reader._resume()  # an interval without a datagram: the loop watches again
    assert watches == [False, True] and reader._watching and not poll_scheduled()
    monkeypatch.undo()
    assert reader.remove_reader(right.fileno())
    left.close()
    right.close()


async def test_a_long_batch_is_read_in_parts_with_the_due_entries_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past ``batch_limit`` sockets the reader hands over to the clock, which comes back at once."""
    loop = asyncio.get_running_loop()
    reader = _reader(loop)
    monkeypatch.setattr(reader, "batch_limit", 2)
    monkeypatch.setattr(loop, "add_reader", lambda *args: None)
    monkeypatch.setattr(loop, "remove_reader", lambda *args: None)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(5)]
    heard: list[int] = []

    def reading(index: int, sock: socket.socket) -> Callable[[], None]:
        return lambda: heard.append(index) if sock.recv(16) else None

    for index, (left, right) in enumerate(pairs):
        reader.add_reader(right.fileno(), reading(index, right))
        left.send(b"x")
    parts: list[int] = []
    reader._ready()
    while reader._resuming is not None:
        entry = reader._resuming
        parts.append(len(heard))
        if entry[0] > loop.time():  # the whole batch is read: the next poll is an interval on
            assert entry[0] - loop.time() > reader.interval / 2
            break
        MediaClock.cancel(entry)  # the test runs it instead of the clock
        reader._resume()
    assert parts == [2, 4, 5]
    assert sorted(heard) == [0, 1, 2, 3, 4]
    monkeypatch.undo()
    for left, right in pairs:
        reader.remove_reader(right.fileno())
        left.close()
        right.close()


def test_a_finished_loop_leaves_no_clock_reader_or_descriptor_behind() -> None:
    """The per-loop clock and reader hold their loop weakly: both go with it, and the fd."""

    async def a_call() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        rtp = RealtimeTransportProtocol.on_socket(sock)
        loop = asyncio.get_running_loop()
        MediaClock.of(loop).at(loop.time(), lambda _: None)
        await asyncio.sleep(0.005)
        rtp.close()
        await asyncio.sleep(0)

    asyncio.run(a_call())
    gc.collect()
    clocks, readers = len(clock_module._clocks), len(clock_module._readers)
    descriptors = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(5):
        asyncio.run(a_call())
    gc.collect()
    assert len(clock_module._clocks) <= clocks and len(clock_module._readers) <= readers
    if descriptors is not None:
        assert len(os.listdir("/proc/self/fd")) <= descriptors


async def test_watching_a_descriptor_again_replaces_its_callback() -> None:
    reader = _reader(asyncio.get_running_loop())
    left, right = socket.socketpair()
    heard: list[str] = []
    reader.add_reader(right.fileno(), lambda: heard.append("first") or right.recv(16))
    reader.add_reader(right.fileno(), lambda: heard.append("second") or right.recv(16))
    left.send(b"x")
    for _ in range(50):
        await asyncio.sleep(0.005)
        if heard:
            break
    assert heard == ["second"]
    assert reader.remove_reader(right.fileno())
    assert not reader.remove_reader(right.fileno())
    left.close()
    right.close()


async def test_a_failing_socket_callback_is_logged_and_the_batch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = _reader(asyncio.get_running_loop())
    pairs = [socket.socketpair() for _ in range(3)]
    heard: list[int] = []

    def reading(index: int, sock: socket.socket) -> Callable[[], None]:
        def callback() -> None:
            sock.recv(16)
            if index == 1:
                raise RuntimeError("broken handler")
            heard.append(index)

        return callback

    for index, (_, right) in enumerate(pairs):
        reader.add_reader(right.fileno(), reading(index, right))
    with caplog.at_level(logging.ERROR, logger="voip_core.rtp.clock"):
        for left, _ in pairs:
            left.send(b"x")
        for _ in range(50):
            await asyncio.sleep(0.005)
            if len(heard) == 2:
                break
    assert sorted(heard) == [0, 2]
    assert "broken handler" in caplog.text
    for left, right in pairs:
        reader.remove_reader(right.fileno())
        left.close()
        right.close()
