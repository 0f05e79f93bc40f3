"""MediaClock: one event-loop timer for the media of every call on a loop.

Each call sends a packet every 20 ms and plays a received frame out every
20 ms. With an :class:`asyncio.TimerHandle` (or a task sleeping) per packet,
a loop carrying hundreds of calls spends much of its time on the timers
themselves: making handles, keeping them in the loop's heap (whose
comparisons run in Python), and waking up once per packet. The clock keeps
the calls' due times in a heap of its own, of plain tuples (compared in C),
arms one loop timer for the earliest, and when it fires runs every entry
that is due within :attr:`MediaClock.tolerance` of then. Under load one
wake-up serves many calls; an entry runs at most ``tolerance`` early and,
the loop permitting, never late.

>>> import asyncio
>>> async def main():
...     clock = MediaClock.of(asyncio.get_running_loop())
...     ran = []
...     now = clock.loop.time()
...     clock.at(now + 0.02, ran.append, "second")
...     clock.at(now + 0.01, ran.append, "first")
...     dropped = clock.at(now + 0.015, ran.append, "cancelled")
...     MediaClock.cancel(dropped)
...     await asyncio.sleep(0.05)
...     return ran
>>> asyncio.run(main())
['first', 'second']
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["MediaClock"]

logger = logging.getLogger(__name__)

#: An entry of the heap: [due time, order, callback, argument]; the callback
#: is None once cancelled.
Entry = list[Any]

_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock] = (
    weakref.WeakKeyDictionary()
)


class MediaClock:
    """The due times of every call's media on one event loop, behind one loop timer.

    Args:
        loop: The event loop whose ``time()`` and ``call_at()`` it uses.
        tolerance: An entry may run this many seconds before its time, so
            that the entries of one wake-up are many.
    """

    #: The default :attr:`tolerance`: 1 ms, a twentieth of a packet.
    default_tolerance = 0.001

    __slots__ = (
        "__weakref__",
        "_armed",
        "_heap",
        "_order",
        "_timer",
        "loop",
        "tolerance",
        "wakeups",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, tolerance: float = default_tolerance):
        self.loop = loop
        self.tolerance = tolerance
        self._heap: list[Entry] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed = float("inf")  # when the loop timer fires (inf: none armed)
        #: How many times the loop timer has fired.
        self.wakeups = 0

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> MediaClock:
        """The loop's clock (made on first use, one per loop)."""
        clock = _clocks.get(loop)
        if clock is None:
            clock = _clocks[loop] = cls(loop)
        return clock

    def __len__(self) -> int:
        """Entries waiting, cancelled ones included until their time comes."""
        return len(self._heap)

    def at(self, when: float, callback: Callable[[Any], object], argument: Any = None) -> Entry:
        """Run ``callback(argument)`` at ``when`` (loop time); returns the entry to cancel."""
        entry = [when, next(self._order), callback, argument]
        heapq.heappush(self._heap, entry)
        if when < self._armed:
            self._arm(when)
        return entry

    @staticmethod
    def cancel(entry: Entry) -> None:
        """Do not run ``entry`` (it leaves the heap when its time comes)."""
        entry[2] = None

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = when
        self._timer = self.loop.call_at(when, self._run)

    def _run(self) -> None:
        self.wakeups += 1
        self._timer = None
        # Entries added meanwhile arm nothing: the timer is armed once, below.
        self._armed = -float("inf")
        heap = self._heap
        pop = heapq.heappop
        try:
            limit = self.loop.time() + self.tolerance
            while heap and heap[0][0] <= limit:
                _, _, callback, argument = pop(heap)
                if callback is None:
                    continue
                try:
                    callback(argument)
                except Exception:
                    logger.exception("media clock: %r failed", callback)
        finally:
            while heap and heap[0][2] is None:  # cancelled: no wake-up for them
                pop(heap)
            self._armed = float("inf")
            if heap:
                self._arm(heap[0][0])
