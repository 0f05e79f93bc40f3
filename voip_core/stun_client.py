"""STUN over asyncio: a client that shares an existing socket, and a small server.

The messages, keys and the retransmission schedule are in :mod:`voip_core.stun`
(sans-I/O); this module sends and waits [RFC 5389 §7.2.1].
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from voip_core.errors import ParseError, VoIPError
from voip_core.stun import (
    _HEADER_SIZE,
    Address,
    StunClass,
    StunMessage,
    StunTransaction,
    _check_schedule,
    answer_request,
    binding_request,
    is_stun,
    parse,
    verify_fingerprint,
    verify_integrity,
)

__all__ = ["StunClient", "StunError", "StunServer", "StunTimeout"]

logger = logging.getLogger(__name__)

# -- asyncio: client and server ---------------------------------------------------------------


class StunTimeout(VoIPError):
    """No response to a STUN request after the whole schedule [RFC 5389 §7.2.1].

    Attributes:
        server: Where the requests went.
        attempts: How many were sent.
        waited: Seconds from the first request to giving up.
    """

    def __init__(self, server: Address, attempts: int, waited: float) -> None:
        self.server = server
        self.attempts = attempts
        self.waited = waited
        super().__init__(
            f"no STUN response from {server[0]} port {server[1]} to {attempts} requests "
            f"in {waited:.3g} s [RFC 5389 §7.2.1]"
        )


class StunError(VoIPError):
    """A STUN server answered with an error response [RFC 5389 §7.3.4, §15.6].

    Attributes:
        code: The error code, e.g. 420; 0 when the response had none.
        reason: Its reason phrase.
        response: The whole response.
    """

    def __init__(self, code: int, reason: str, response: StunMessage) -> None:
        self.code = code
        self.reason = reason
        self.response = response
        super().__init__(f"STUN error {code} {reason}".rstrip())


@dataclass(slots=True, eq=False)
class _Pending:
    transaction: StunTransaction
    wire: bytes
    server: Address
    future: asyncio.Future[StunMessage]
    integrity_key: bytes | None
    started: float
    timer: asyncio.TimerHandle | None = None


class StunClient:
    """STUN requests over a datagram socket that someone else reads.

    The owner of the socket keeps receiving; it offers each datagram to
    :meth:`datagram_received` first (a cheap header check), which keeps the
    responses to pending requests. Requests go out through ``send`` and are
    retransmitted with ``loop.call_at`` on the :class:`StunTransaction`
    schedule.

    Args:
        send: Sends one datagram, e.g. ``transport.sendto``.
        rto: Initial retransmission timeout, seconds [RFC 5389 §7.2.1].
        rc: Requests sent in all.
        rm: Final wait, in initial RTOs.
        software: A SOFTWARE attribute for Binding requests, if any.
    """

    def __init__(
        self,
        send: Callable[[bytes, Address], object],
        *,
        rto: float = 0.5,
        rc: int = 7,
        rm: int = 16,
        software: str | None = None,
    ) -> None:
        _check_schedule(rto, rc, rm)
        self._send = send
        self.rto = rto
        self.rc = rc
        self.rm = rm
        self.software = software
        self._pending: dict[bytes, _Pending] = {}

    async def request(self, server: Address) -> Address:
        """Send a Binding request to ``server``; return the mapped address.

        Returns:
            ``(host, port)`` from XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from
            an older server) [RFC 5389 §7.3.3]: how ``server`` sees us.

        Raises:
            StunTimeout: No response after the schedule.
            StunError: An error response.
            ParseError: A success response without a usable address.
            OSError: ``send`` failed.
        """
        response = await self.transact(binding_request(software=self.software), server)
        if response.message_class is StunClass.ERROR:
            code, reason = response.error_code or (0, "")
            raise StunError(code, reason, response)
        address = response.xor_mapped_address or response.mapped_address
        if address is None:
            raise ParseError("Binding success response without a mapped address [RFC 5389 §7.3.3]")
        return address

    async def transact(
        self, request: StunMessage, server: Address, *, integrity_key: bytes | None = None
    ) -> StunMessage:
        """Send ``request`` (with FINGERPRINT) until a response arrives; return it.

        Args:
            request: A request; its transaction ID must be new.
            server: Where to send it.
            integrity_key: Sign the request with MESSAGE-INTEGRITY, and accept
                only responses whose MESSAGE-INTEGRITY verifies under the same
                key [RFC 5389 §10.1.3].

        Returns:
            The response, success or error.

        Raises:
            StunTimeout: No response after the schedule.
            ValueError: ``request`` is not a request, or its transaction ID is
                already pending.
            OSError: ``send`` failed.
        """
        if request.message_class is not StunClass.REQUEST:
            raise ValueError(f"only requests are transactions, got {request.message_class.name}")
        transaction_id = bytes(request.transaction_id)
        if transaction_id in self._pending:
            raise ValueError("a request with this transaction ID is already pending")
        loop = asyncio.get_running_loop()
        transaction = StunTransaction(request, rto=self.rto, rc=self.rc, rm=self.rm)
        pending = _Pending(
            transaction=transaction,
            wire=request.serialize(integrity_key=integrity_key, fingerprint=True),
            server=server,
            future=loop.create_future(),
            integrity_key=integrity_key,
            started=loop.time(),
        )
        self._pending[transaction_id] = pending
        try:
            transaction.start(pending.started)
            self._send(pending.wire, server)
            self._arm(pending, loop)
            return await pending.future
        finally:
            if pending.timer is not None:
                pending.timer.cancel()
            del self._pending[transaction_id]

    def _arm(self, pending: _Pending, loop: asyncio.AbstractEventLoop) -> None:
        deadline = pending.transaction.next_deadline
        if deadline is not None:
            pending.timer = loop.call_at(deadline, self._timer_fired, pending, loop)

    def _timer_fired(self, pending: _Pending, loop: asyncio.AbstractEventLoop) -> None:
        pending.timer = None
        transaction = pending.transaction
        deadline = transaction.next_deadline
        if pending.future.done() or deadline is None:
            return
        # call_at may run up to one clock resolution early: the deadline is the time.
        if transaction.timer_fired(max(loop.time(), deadline)):
            try:
                self._send(pending.wire, pending.server)
            except OSError as error:
                pending.future.set_exception(error)
                return
        elif transaction.timed_out:
            waited = loop.time() - pending.started
            pending.future.set_exception(StunTimeout(pending.server, transaction.attempts, waited))
            return
        self._arm(pending, loop)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> bool:
        """Offer a received datagram; return True if it answered a pending request.

        Only the transaction ID ties a response to its request (96 random
        bits [RFC 5389 §6]), not the source address. A response whose
        FINGERPRINT (or, with a key, MESSAGE-INTEGRITY) fails is discarded as
        if never received [RFC 5389 §7.3, §10.1.3] but still counts as
        consumed: it was STUN for us.
        """
        if not is_stun(data):
            return False
        pending = self._pending.get(bytes(data[8:_HEADER_SIZE]))
        if pending is None or pending.future.done():
            return False
        try:
            message = parse(data)
        except ParseError as error:
            logger.debug("malformed STUN response from %s dropped: %s", addr[:2], error)
            return True
        if message.message_class not in (StunClass.SUCCESS, StunClass.ERROR):
            return False
        if message.fingerprint is not None and not verify_fingerprint(data):
            logger.debug("STUN response from %s with a bad FINGERPRINT dropped", addr[:2])
            return True
        key = pending.integrity_key
        if key is not None and not verify_integrity(data, key):
            logger.debug("STUN response from %s failed MESSAGE-INTEGRITY; dropped", addr[:2])
            return True
        if pending.transaction.response_received(message) is not None:
            pending.future.set_result(message)
        return True

    def close(self) -> None:
        """Cancel every pending request (their awaiters get CancelledError)."""
        for pending in list(self._pending.values()):
            if pending.timer is not None:
                pending.timer.cancel()
            pending.future.cancel()


class StunServer(asyncio.DatagramProtocol):
    """A minimal STUN server: answers Binding requests (see :func:`answer_request`).

    Args:
        software: A SOFTWARE attribute for the answers, if any.

    Attributes:
        transport: The socket, once :meth:`connection_made` ran.
        requests: How many datagrams were answered.
    """

    def __init__(self, *, software: str | None = None) -> None:
        self.software = software
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        answer = answer_request(data, addr, software=self.software)
        if answer is not None and self.transport is not None:
            self.requests += 1
            self.transport.sendto(answer, addr)
