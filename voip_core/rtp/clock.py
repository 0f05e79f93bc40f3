"""MediaClock: one event-loop timer for the media of every call on a loop.

Each call sends a packet every 20 ms and plays a received frame out every
20 ms. With an :class:`asyncio.TimerHandle` (or a task sleeping) per packet,
a loop carrying hundreds of calls spends much of its time on the timers
themselves: making handles, keeping them in the loop's heap (whose
comparisons run in Python), and waking up once per packet. The clock keeps
the calls' due times in a heap of its own, of plain lists (compared in C),
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
import selectors
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["MediaClock", "MediaReader"]

logger = logging.getLogger(__name__)

#: An entry of the heap: [due time, order, callback, argument]; the callback
#: is None once cancelled.
Entry = list[Any]

_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock] = (
    weakref.WeakKeyDictionary()
)


def _alive(loop: weakref.ref[asyncio.AbstractEventLoop]) -> asyncio.AbstractEventLoop:
    """The loop a clock or reader holds weakly (per loop, they must not keep it alive)."""
    held = loop()
    if held is None:
        raise RuntimeError("the event loop of this media clock or reader is gone")
    return held


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
        "_loop",
        "_order",
        "_timer",
        "tolerance",
        "wakeups",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, tolerance: float = default_tolerance):
        # Weakly: the clock is kept per loop in a WeakKeyDictionary, which a
        # strong reference back would keep (and the loop with it) for ever.
        self._loop = weakref.ref(loop)
        self.tolerance = tolerance
        self._heap: list[Entry] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed = float("inf")  # when the loop timer fires (inf: none armed)
        #: How many times the loop timer has fired.
        self.wakeups = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the clock runs on."""
        return _alive(self._loop)

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


class MediaReader:
    """Reads every call's RTP socket on a loop in batches: one wake-up for many datagrams.

    A call's socket receives a packet every 20 ms; with hundreds of calls,
    an event loop that wakes for each one spends more on waking (the
    selector, the scheduler, on a virtual machine an exit per sleep) than
    on the packet. The reader watches the sockets with a selector of its
    own, whose descriptor the loop watches. When something arrives it reads
    one datagram from every socket that has one, then stops watching for
    :attr:`interval`. Then (through the :class:`MediaClock`, so under load
    on a wake-up the clock has anyway) it reads the next batch if one has
    come, and so on; only when nothing has come does the loop watch again.
    A packet so waits at most ``interval`` longer in its socket: the jitter
    buffer takes that in its stride. A batch reads at most
    :attr:`batch_limit` sockets before the clock's due entries get their turn.

    It has the loop's ``add_reader`` and ``remove_reader``, which is all
    :class:`~voip_core.datagram.SocketDatagramTransport` asks of a loop.
    :meth:`of` gives None where the system's selector cannot itself be
    watched (no epoll or kqueue): the loop then reads each socket.
    """

    #: The default :attr:`interval`: 2 ms, a tenth of a packet.
    default_interval = 0.002
    #: Most sockets read in one go. With hundreds of calls a whole batch takes
    #: milliseconds; the sockets past this many are read after the media clock
    #: has run what became due meanwhile (packets to send on time, play-out),
    #: rather than holding it back: a received packet can wait, the jitter
    #: buffer is there for that.
    batch_limit = 64

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = default_interval):
        self._loop = weakref.ref(loop)  # weakly, as MediaClock does
        self.interval = interval
        self._selector = selectors.DefaultSelector()
        self._descriptor = self._selector.fileno()
        self._watching = False
        self._resuming: Entry | None = None
        #: How many batches were read.
        self.batches = 0

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> MediaReader | None:
        """The loop's reader (made on first use), or None where there can be none."""
        reader = _readers.get(loop)
        if reader is None:
            if not hasattr(selectors.DefaultSelector, "fileno") or not hasattr(loop, "add_reader"):
                return None
            reader = _readers[loop] = cls(loop)
        return reader

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that watches the reader."""
        return _alive(self._loop)

    def add_reader(self, descriptor: int, callback: Callable[[], object]) -> None:
        """Call ``callback()`` when ``descriptor`` is readable (in the next batch).

        A descriptor already watched gets the new callback, as with the loop's own.
        """
        try:
            self._selector.register(descriptor, selectors.EVENT_READ, callback)
        except KeyError:
            self._selector.modify(descriptor, selectors.EVENT_READ, callback)
        if not self._watching and self._resuming is None:
            self._watch()

    def remove_reader(self, descriptor: int) -> bool:
        """Stop watching ``descriptor``; False when it was not watched."""
        try:
            self._selector.unregister(descriptor)
        except (KeyError, ValueError):
            return False
        if not self._selector.get_map():
            self._unwatch()
            if self._resuming is not None:
                MediaClock.cancel(self._resuming)
                self._resuming = None
        return True

    def _watch(self) -> None:
        self._watching = True
        self.loop.add_reader(self._descriptor, self._ready)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self.loop.remove_reader(self._descriptor)

    def _ready(self) -> None:
        """The loop saw a datagram: read this batch, then poll again after the interval."""
        self._unwatch()
        self._read(self._selector.select(0))

    def _read(self, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        self.batches += 1
        more = len(ready) > self.batch_limit
        try:
            for key, _ in ready[: self.batch_limit] if more else ready:
                try:
                    key.data()
                except Exception:
                    logger.exception("media reader: %r failed", key.data)
        finally:
            if self._selector.get_map():
                loop = self.loop
                # The rest of a long batch comes after what is due meanwhile.
                when = loop.time() + (0.0 if more else self.interval)
                self._resuming = MediaClock.of(loop).at(when, self._resume)

    def _resume(self, _: object = None) -> None:
        """The interval is over: read what came meanwhile, or have the loop watch again.

        Under load something has always come, so the reader polls on the
        clock's wake-ups and the loop's watch is not touched (each change of
        it is a system call, and more work for the loop's own selector).
        """
        self._resuming = None
        if not self._selector.get_map() or self._watching:
            return
        ready = self._selector.select(0)
        if ready:
            self._read(ready)
        else:
            self._watch()


_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaReader] = (
    weakref.WeakKeyDictionary()
)
