"""The transaction timers of one endpoint on its event loop [RFC 3261 §17].

Every SIP transaction runs timers (A to M), and most of them are long: timer
L and J keep each answered INVITE and each non-INVITE server transaction for
64 x T1 (32 s) after its final response [RFC 3261 §17.2.2, RFC 6026 §8.7].
At a few hundred calls a second that is tens of thousands of timers pending
at once; as one ``loop.call_later`` each they fill the event loop's heap,
whose every push and pop compares Python objects ``log2(n)`` times.

:class:`TransactionTimers` keeps them in one FIFO queue per distinct delay
instead: timers started with the same delay fall due in the order they were
started, so each queue stays sorted by itself, starting and cancelling is
O(1), and the event loop holds one timer for all of them (the earliest
due). A cancelled timer stays in its queue, marked, until it comes to the
front. The delays a transaction uses are few (T1 doublings up to T2, 64 x T1,
T4, 32 s, zero over reliable transports), so there are few queues.

Timers fire in order of their due time, as on the loop itself, and no
earlier than asyncio would fire a ``call_later`` (its clock resolution).
The long ones (:data:`COALESCE_FROM` seconds or more: the 32 s timers B, D,
F, H, J, L and M that end a transaction) are due on a grid of
:data:`COALESCE_STEP` seconds, so that those of many transactions fire
together in one turn of the loop rather than one wake-up each: at 1000
calls a second that is a few wake-ups a second instead of 2000. They fire
at most that much late, which only keeps a finished transaction a little
longer (each is a "no sooner than" [RFC 3261 §17]).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["COALESCE_FROM", "COALESCE_STEP", "TransactionTimers"]

#: asyncio runs a timer this close to its due time (``BaseEventLoop._clock_resolution``).
_RESOLUTION = time.get_clock_info("monotonic").resolution
#: Timers this long or longer are due on a grid ...
COALESCE_FROM = 8.0
#: ... of this many seconds (under 1 % of 64 x T1).
COALESCE_STEP = 0.25


class _Timer:
    __slots__ = ("cancelled", "due", "name", "owner", "serial")

    def __init__(self, due: float, owner: Any, name: str, serial: int) -> None:
        self.due = due
        self.owner = owner
        self.name = name
        self.serial = serial
        self.cancelled = False


#: Compact the queues when more than this many cancelled timers wait in them
#: and they are more than half of all (as asyncio does with its heap).
_COMPACT_AT = 1000


class TransactionTimers:
    """Named timers per transaction, all served by one event-loop timer.

    Args:
        loop: The event loop whose clock and callbacks are used.
        fire: Called with ``(owner, name)`` when a timer falls due.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[Any, str], None]) -> None:
        self._loop = loop
        self._fire = fire
        #: The running timer of each (id(owner), name).
        self._running: dict[tuple[int, str], _Timer] = {}
        #: Timers by delay, each queue in due order (cancelled ones included).
        self._queues: dict[float, deque[_Timer]] = {}
        self._queued = 0
        self._cancelled = 0
        self._serial = 0
        self._wakeup: asyncio.TimerHandle | None = None
        self._wakeup_at = math.inf
        self._epoch = 0  # counts close(): a run of _run stops when it changes

    def __len__(self) -> int:
        """How many timers are running."""
        return len(self._running)

    def __contains__(self, key: object) -> bool:
        """Whether the timer ``(id(owner), name)`` is running."""
        return key in self._running

    def start(self, owner: Any, name: str, delay: float) -> None:
        """(Re)start timer ``name`` of ``owner`` to fire after ``delay`` seconds."""
        key = (id(owner), name)
        running = self._running.get(key)
        if running is not None:
            self._cancel(running)
        delay = max(0.0, delay)
        due = self._loop.time() + delay
        if delay >= COALESCE_FROM:
            due = math.ceil(due / COALESCE_STEP) * COALESCE_STEP
        self._serial += 1
        timer = _Timer(due, owner, name, self._serial)
        self._running[key] = timer
        queue = self._queues.get(delay)
        if queue is None:
            queue = self._queues[delay] = deque()
        queue.append(timer)
        self._queued += 1
        if timer.due < self._wakeup_at:
            self._wake_at(timer.due)

    def stop(self, owner: Any, name: str) -> None:
        """Cancel timer ``name`` of ``owner`` if it is running."""
        timer = self._running.pop((id(owner), name), None)
        if timer is not None:
            self._cancel(timer)

    def stop_all(self, owner: Any, names: Iterable[str]) -> None:
        """Cancel every timer of ``owner`` named in ``names``."""
        running = self._running
        owner_id = id(owner)
        for name in names:
            timer = running.pop((owner_id, name), None)
            if timer is not None:
                self._cancel(timer)

    def close(self) -> None:
        """Cancel every running timer (as cancelling each loop timer would)."""
        self._epoch += 1
        self._running.clear()
        self._queues.clear()
        self._queued = self._cancelled = 0
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        self._wakeup_at = math.inf

    def _cancel(self, timer: _Timer) -> None:
        timer.cancelled = True
        timer.owner = None  # a cancelled timer keeps nothing alive while it waits
        self._cancelled += 1
        if self._cancelled > _COMPACT_AT and 2 * self._cancelled > self._queued:
            for delay, queue in list(self._queues.items()):
                kept = deque(queued for queued in queue if not queued.cancelled)
                if kept:
                    self._queues[delay] = kept
                else:
                    del self._queues[delay]
            self._queued -= self._cancelled
            self._cancelled = 0

    def _wake_at(self, due: float) -> None:
        if self._wakeup is not None:
            self._wakeup.cancel()
        self._wakeup = self._loop.call_at(due, self._run)
        self._wakeup_at = due

    def _run(self) -> None:
        """Fire the timers that are due, earliest first; then wait for the next one.

        A timer started meanwhile (by a timer that fired) waits for a later
        turn of the loop, however short its delay, as a ``call_later`` would.
        """
        self._wakeup = None
        self._wakeup_at = math.inf
        end = self._loop.time() + _RESOLUTION
        last_serial = self._serial
        epoch = self._epoch
        queues = self._queues
        while epoch == self._epoch:
            earliest: deque[_Timer] | None = None
            for delay, queue in list(queues.items()):
                while queue and queue[0].cancelled:
                    queue.popleft()
                    self._queued -= 1
                    self._cancelled -= 1
                if not queue:
                    del queues[delay]
                elif earliest is None or queue[0].due < earliest[0].due:
                    earliest = queue
            if earliest is None:
                return
            timer = earliest[0]
            if timer.due >= end or timer.serial > last_serial:
                if timer.due < self._wakeup_at:
                    self._wake_at(timer.due)
                return
            earliest.popleft()
            self._queued -= 1
            del self._running[(id(timer.owner), timer.name)]
            self._fire(timer.owner, timer.name)
