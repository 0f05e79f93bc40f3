"""Several processes serving one UDP port: what ``voip serve --workers N`` runs.

One Python process handles about 1500 calls a second (a core's worth
of parsing, transactions and a media session per call); a machine with more
cores serves more with more processes. They share the port this way:

* The first process binds the SIP socket and forks the workers. It keeps
  reading the socket and relays each datagram to one worker, chosen by a
  hash of its Call-ID (:func:`owner`): every message of a call (INVITE and
  its retransmissions, CANCEL, ACK, BYE, re-INVITE, and the responses to
  what the worker sent) carries the same Call-ID [RFC 3261 §8.1.1.4,
  §12.2.1.1], so it reaches the process that holds the call's transactions
  and dialog. A datagram without a Call-ID (garbage, a keep-alive) goes to
  worker 0, which answers or drops it as one process would.
* Workers answer from the shared socket itself (each inherits it, and never
  reads it): peers see one address in Via, Contact and as the source of
  every response, as RFC 3581 §4 asks of a server behind a NAT.
* A Call-ID a worker makes (a call it places, a REGISTER) is drawn until it
  hashes to that worker (:meth:`WorkerChannel.owns`), so the answers come
  back to it.
* Each worker gets its own slice of the RTP port range (:func:`port_slice`).

The relay (a datagram socket pair per worker, the sender's address in front
of the datagram) costs the first process about 20 µs per datagram on
loopback, kernel included: a call of INVITE, ACK and BYE about 60 µs,
against about 0.7 ms of a worker's time. A worker that falls behind
gets its datagrams queued (up to :data:`QUEUE_LIMIT`, then dropped and
counted: SIP over UDP retransmits) while the others go on.

Only UDP is relayed: a TCP or TLS connection would have to be handed to the
worker that owns each message on it, and a dialog may move between
connections, so ``--workers`` refuses them. Forking needs a POSIX system.

>>> message = b"BYE sip:a@h SIP/2.0\\r\\ni: 9f2c@host\\r\\nCSeq: 2 BYE\\r\\n\\r\\n"
>>> call_id_of(message)
b'9f2c@host'
>>> owner(call_id_of(message), 4) == owner(b"9f2c@host", 4)
True
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import re
import selectors
import signal
import socket
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voip_core.datagram import DATAGRAM_READ_SIZE, RECEIVE_BUFFER_BYTES

__all__ = [
    "QUEUE_LIMIT",
    "RELAY_HEAD_SIZE",
    "WorkerChannel",
    "call_id_of",
    "owner",
    "pack",
    "port_slice",
    "run_workers",
    "unpack",
]

logger = logging.getLogger("voip_core.sip.workers")

#: Datagrams held for one worker whose socket pair is full; more are dropped.
QUEUE_LIMIT = 10_000
#: Most bytes :func:`pack` puts in front of a datagram (an IPv6 address with its zone, a port).
RELAY_HEAD_SIZE = 96
#: Seconds the workers get to end their calls after a stop signal.
STOP_GRACE = 15.0

# The first Call-ID header of the message head (long or compact form [RFC 3261 §7.3.3],
# any case, space around the colon); its value without surrounding space.
_CALL_ID = re.compile(rb"\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?\n", re.IGNORECASE)


def call_id_of(datagram: bytes) -> bytes:
    """The Call-ID of a SIP message as bytes, ``b""`` when its head has none.

    Reads only the head (up to the first blank line), so a body cannot
    supply one.
    """
    end = datagram.find(b"\r\n\r\n")
    if end < 0:
        end = datagram.find(b"\n\n")
        end = len(datagram) if end < 0 else end + 1
    else:
        end += 2
    match = _CALL_ID.search(datagram, 0, end)
    return match.group(1) if match else b""


def owner(call_id: bytes, count: int) -> int:
    """Which of ``count`` workers serves the call with this Call-ID (0 ... count-1)."""
    return zlib.crc32(call_id) % count


def pack(datagram: bytes, address: tuple[str, int]) -> bytes:
    """A datagram as the relay hands it to a worker: ``HOST PORT\\n`` then the datagram."""
    return b"%s %d\n%s" % (address[0].encode(), address[1], datagram)


def unpack(relayed: bytes) -> tuple[bytes, tuple[str, int]]:
    """The datagram and its sender from what :func:`pack` made.

    >>> unpack(pack(b"OPTIONS ...", ("::1", 5062)))
    (b'OPTIONS ...', ('::1', 5062))
    """
    head, _, datagram = relayed.partition(b"\n")
    host, _, port = head.rpartition(b" ")
    return datagram, (host.decode(), int(port))


def port_slice(ports: tuple[int, int], index: int, count: int) -> tuple[int, int]:
    """Worker ``index``'s share ``(low, high)`` (high excluded) of the RTP range ``ports``.

    Each share starts on an even port (RTP even, RTCP the next odd one
    [RFC 3550 §11]).

    >>> [port_slice((10000, 20000), index, 3) for index in range(3)]
    [(10000, 13332), (13332, 16664), (16664, 19996)]

    Raises:
        ValueError: Fewer than two ports for each worker.
    """
    low, high = ports
    low += low % 2
    span = (high - low) // count // 2 * 2
    if span < 2:
        raise ValueError(f"RTP ports {ports[0]}-{ports[1] - 1} are too few for {count} workers")
    return low + index * span, low + (index + 1) * span


@dataclass(frozen=True, eq=False)
class WorkerChannel:
    """What a worker process gets: its place, the shared socket and its inbox.

    Attributes:
        index: This worker (0 ... count-1); worker 0 also registers.
        count: How many workers share the socket.
        sock: The shared SIP UDP socket: send from it, never read it.
        inbox: Datagrams relayed to this worker, each as :func:`pack` made it.
    """

    index: int
    count: int
    sock: socket.socket
    inbox: socket.socket

    def owns(self, call_id: str) -> bool:
        """Whether the relay sends the messages of ``call_id`` to this worker."""
        return owner(call_id.encode(), self.count) == self.index


Worker = Callable[[WorkerChannel], int]


def run_workers(
    sock: socket.socket,
    count: int,
    worker: Worker,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Fork ``count`` workers that run ``worker(channel)``, and relay ``sock``'s datagrams.

    Call it before any thread or event loop exists in the process. It
    returns when every worker has ended: after SIGINT or SIGTERM (relayed to
    the workers, which end their calls while the relay goes on; those still
    running after :data:`STOP_GRACE` seconds are killed), or after one
    worker ended on its own (the others are stopped then). Returns the
    first non-zero status of a worker, else 0. ``on_ready`` runs once
    every worker has called :func:`tell_ready`.
    """
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(count)]
    for ours, theirs in pairs:
        with contextlib.suppress(OSError):
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RECEIVE_BUFFER_BYTES)
            theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    sys.stdout.flush()
    sys.stderr.flush()
    children: dict[int, int] = {}  # pid -> index
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            for number, (ours, theirs) in enumerate(pairs):
                ours.close()
                if number != index:
                    theirs.close()
            _run_child(worker, WorkerChannel(index, count, sock, pairs[index][1]))
        children[pid] = index
    for _, theirs in pairs:
        theirs.close()
    relay = _Relay(sock, [ours for ours, _ in pairs], children, on_ready)
    try:
        return relay.run()
    finally:
        relay.close()


def _run_child(worker: Worker, channel: WorkerChannel) -> None:
    status = 1
    try:
        status = worker(channel)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def tell_ready(channel: WorkerChannel) -> None:
    """Tell the relay this worker is listening (its ``ready`` byte)."""
    channel.inbox.send(b"ready")


class _Relay:
    """The first process: reads the shared socket, hands datagrams to workers, minds them."""

    def __init__(
        self,
        sock: socket.socket,
        outs: list[socket.socket],
        children: dict[int, int],
        on_ready: Callable[[], None] | None,
    ) -> None:
        self.sock = sock
        self.on_ready = on_ready
        self.outs = outs
        self.children = children  # running: pid -> index
        self.queues: list[collections.deque[bytes]] = [collections.deque() for _ in outs]
        self.ready: set[int] = set()
        self.status = 0
        self.stopping_since: float | None = None
        self.dropped = 0
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, self.wakeup_w = socket.socketpair()
        self.saved: dict[int, Any] = {}
        self.old_wakeup = -1

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self.old_wakeup)
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)
        self.selector.close()
        for each in (self.wakeup_r, self.wakeup_w, *self.outs):
            each.close()

    def run(self) -> int:
        for each in (self.sock, self.wakeup_r, self.wakeup_w, *self.outs):
            each.setblocking(False)
        self.old_wakeup = signal.set_wakeup_fd(self.wakeup_w.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            self.saved[signum] = signal.signal(signum, lambda *_: None)
        self.selector.register(self.sock, selectors.EVENT_READ, "sip")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "signal")
        for index, out in enumerate(self.outs):
            self.selector.register(out, selectors.EVENT_READ, index)
        self._reap()  # a worker that ended before the handler was in place
        while self.children:
            timeout = None
            if self.stopping_since is not None:
                timeout = max(0.0, self.stopping_since + STOP_GRACE - time.monotonic())
                if timeout == 0.0:
                    self._kill_all()
                    timeout = 0.1
            for key, events in self.selector.select(timeout):
                if key.data == "sip":
                    self._relay()
                elif key.data == "signal":
                    self._signals()
                elif events & selectors.EVENT_WRITE:
                    self._drain(key.data)
                if events & selectors.EVENT_READ and isinstance(key.data, int):
                    self._from_worker(key.data)
        return self.status

    # Datagrams -----------------------------------------------------------------------------

    def _relay(self) -> None:
        recvfrom, count = self.sock.recvfrom, len(self.outs)
        for _ in range(64):
            try:
                datagram, address = recvfrom(DATAGRAM_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # an ICMP error reported on the socket, say
                logger.debug("SIP UDP socket: %s", error)
                return
            index = owner(call_id_of(datagram), count)
            self._send(index, pack(datagram, (address[0], address[1])))

    def _send(self, index: int, relayed: bytes) -> None:
        queue = self.queues[index]
        if not queue:
            try:
                self.outs[index].send(relayed)
                return
            except (BlockingIOError, InterruptedError):
                self.selector.modify(
                    self.outs[index], selectors.EVENT_READ | selectors.EVENT_WRITE, index
                )
            except OSError as error:  # the worker has gone
                if error.errno not in (errno.ECONNREFUSED, errno.EPIPE):
                    logger.warning("relay to worker %d: %s", index, error)
                return
        if len(queue) >= QUEUE_LIMIT:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:
                logger.warning("worker %d is behind: %d datagram(s) dropped", index, self.dropped)
            return
        queue.append(relayed)

    def _drain(self, index: int) -> None:
        queue, out = self.queues[index], self.outs[index]
        while queue:
            try:
                out.send(queue[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                queue.clear()
                break
            queue.popleft()
        self.selector.modify(out, selectors.EVENT_READ, index)

    def _from_worker(self, index: int) -> None:
        with contextlib.suppress(OSError):
            while self.outs[index].recv(64) == b"ready":
                self.ready.add(index)
                if len(self.ready) == len(self.outs) and self.on_ready is not None:
                    self.on_ready()
                    self.on_ready = None

    # Workers -------------------------------------------------------------------------------

    def _signals(self) -> None:
        try:
            received = self.wakeup_r.recv(1024)
        except (BlockingIOError, InterruptedError):
            return
        if signal.SIGINT in received or signal.SIGTERM in received:
            self._stop()
        self._reap()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            index = self.children.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            status = code if code >= 0 else 128 - code
            if self.stopping_since is None:
                print(f"worker {index} ended (status {code}); stopping", file=sys.stderr)
                self.status = self.status or status or 1
                self._stop()
            elif status and code != -signal.SIGTERM:
                self.status = self.status or status

    def _stop(self) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _kill_all(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
