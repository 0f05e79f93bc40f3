"""SIP transactions [RFC 3261 §17], sans-I/O, with the RFC 6026 "Accepted" states.

Each transaction is a state machine fed with events (a message received, the
TU's response, a timer that fired, a transport error) that returns the
:class:`Action` objects the I/O layer must carry out: send a message, start
or stop a named timer, hand a message to the transaction user (TU), report a
timeout, or note that the transaction has ended. Nothing here reads a clock
or a socket, so every timer path is tested with a virtual clock.

Retransmission timers (A, E, G) run only over unreliable transports (UDP);
the wait timers (D, I, J, K) are zero over reliable ones [RFC 3261 §17.1.1.2,
§17.1.2.2, §17.2.1, §17.2.2].
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import TypeAlias

from voip_core.sip.message import Headers, SIPRequest, SIPResponse

__all__ = [
    "MAGIC_COOKIE",
    "Action",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "Deliver",
    "Send",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "StartTimer",
    "State",
    "StopTimer",
    "Terminated",
    "TimedOut",
    "TimerConfig",
    "Transaction",
    "TransportFailed",
    "client_key",
    "new_branch",
    "server_key",
]

#: Branch prefix of RFC 3261 transactions [RFC 3261 §8.1.1.7].
MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    """A globally unique Via branch with the RFC 3261 magic cookie."""
    return MAGIC_COOKIE + secrets.token_hex(10)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """The base timer values [RFC 3261 §17.1.1.1, Table 4], in seconds.

    Attributes:
        t1: Round-trip time estimate (500 ms).
        t2: Longest retransmit interval of non-INVITE requests and INVITE responses (4 s).
        t4: Longest time a message stays in the network (5 s).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class State(enum.Enum):
    """Transaction states [RFC 3261 §17; "Accepted" from RFC 6026 §7.1]."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


# Actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to the transaction's peer."""

    message: SIPRequest | SIPResponse


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start timer ``name`` to fire after ``delay`` seconds; call ``timer_fired(name)``."""

    name: str
    delay: float


@dataclass(frozen=True, slots=True)
class StopTimer:
    """Cancel timer ``name`` if it is running."""

    name: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand ``message`` to the transaction user (a response, or the request that started it)."""

    message: SIPRequest | SIPResponse


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction gave up (timer B, F or H): the TU acts as on a 408 [RFC 3261 §8.1.3.1]."""

    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport reported an error: the TU acts as on a 503 [RFC 3261 §8.1.3.1]."""


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction has ended; forget it (and stop its timers)."""


Action: TypeAlias = (
    Send | StartTimer | StopTimer | Deliver | TimedOut | TransportFailed | Terminated
)


# Matching [RFC 3261 §17.1.3, §17.2.3] -------------------------------------------------------


def client_key(message: SIPRequest | SIPResponse) -> tuple[str, str]:
    """The key that matches a response to its client transaction [RFC 3261 §17.1.3].

    The top Via's branch and the CSeq method (a CANCEL has its own transaction
    with the same branch as the INVITE it cancels).
    """
    return (message._vias[0].branch or "", message.cseq.method)


def server_key(request: SIPRequest) -> tuple[str, ...]:
    """The key that matches a request to its server transaction [RFC 3261 §17.2.3].

    With the magic cookie: branch, sent-by and method, an ACK matching the
    INVITE it acknowledges. Without it (RFC 2543 peers), the older rule's
    fields: Request-URI, From tag, Call-ID, CSeq number, top Via and method;
    an ACK then matches by the To tag of the response as well, which the
    I/O layer handles by looking the INVITE up without it.
    """
    via = request._vias[0]
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    sent_by = f"{via.host.lower()}:{via.port or ''}"
    if branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, sent_by, method)
    return (
        "2543",
        str(request.uri),
        request.from_header.tag or "",
        request.call_id,
        str(request.cseq.number),
        str(via),
        method,
    )


# Base ---------------------------------------------------------------------------------------


class Transaction:
    """What every transaction has: a state, its request, timers and the transport kind.

    Args:
        request: The request that made the transaction.
        reliable: True over TCP/TLS: no retransmissions, zero wait timers.
        timers: T1, T2, T4.
    """

    def __init__(
        self, request: SIPRequest, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        self.request = request
        self.reliable = reliable
        self.timers = timers or TimerConfig()
        self.state = State.TERMINATED
        self._intervals: dict[str, float] = {}

    @property
    def terminated(self) -> bool:
        """True once the transaction has ended."""
        return self.state is State.TERMINATED

    def _start(self, name: str, delay: float) -> StartTimer:
        self._intervals[name] = delay
        return StartTimer(name, delay)

    def _terminate(self, *extra: Action) -> list[Action]:
        self.state = State.TERMINATED
        stops: list[Action] = [StopTimer(name) for name in self._intervals]
        self._intervals.clear()
        return [*extra, *stops, Terminated()]

    def transport_error(self) -> list[Action]:
        """The transport could not send: tell the TU and end [RFC 3261 §17.1.4, §17.2.4]."""
        if self.terminated:
            return []
        return self._terminate(TransportFailed())

    def timer_fired(self, name: str) -> list[Action]:
        """Timer ``name`` fired."""
        if self.terminated or name not in self._intervals:
            return []
        interval = self._intervals.pop(name)
        handler = getattr(self, f"_timer_{name.lower()}", None)
        if handler is None:
            return []
        actions: list[Action] = handler(interval)
        return actions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.request.method}, {self.state.value})"


# Client transactions ------------------------------------------------------------------------


class ClientInviteTransaction(Transaction):
    """The INVITE client transaction [RFC 3261 §17.1.1, RFC 6026 §8.4].

    Call :meth:`start` once, then feed responses and timers.
    """

    def start(self) -> list[Action]:
        """Send the INVITE: Calling, with timers A (retransmit) and B (give up)."""
        self.state = State.CALLING
        actions: list[Action] = [Send(self.request)]
        if not self.reliable:
            actions.append(self._start("A", self.timers.t1))
        actions.append(self._start("B", 64 * self.timers.t1))
        return actions

    def _timer_a(self, interval: float) -> list[Action]:
        if self.state is not State.CALLING:
            return []
        return [Send(self.request), self._start("A", 2 * interval)]

    def _timer_b(self, interval: float) -> list[Action]:
        if self.state is not State.CALLING:
            return []
        return self._terminate(TimedOut("B"))

    def _timer_d(self, interval: float) -> list[Action]:
        return self._terminate()

    def _timer_m(self, interval: float) -> list[Action]:
        return self._terminate()

    def receive_response(self, response: SIPResponse) -> list[Action]:
        """A response matched to this transaction."""
        code = response.status_code
        if self.state in (State.CALLING, State.PROCEEDING):
            stops: list[Action] = [StopTimer("A"), StopTimer("B")]
            self._intervals.pop("A", None)
            if code < 200:
                self.state = State.PROCEEDING
                self._intervals.pop("B", None)
                return [*stops, Deliver(response)]
            self._intervals.pop("B", None)
            if code < 300:
                # The TU acknowledges 2xx itself (each retransmission too) [RFC 6026 §8.4].
                self.state = State.ACCEPTED
                return [*stops, Deliver(response), self._start("M", 64 * self.timers.t1)]
            self.state = State.COMPLETED
            wait = 0.0 if self.reliable else 32.0
            return [*stops, Send(self.ack_for(response)), Deliver(response), self._start("D", wait)]
        if self.state is State.ACCEPTED and 200 <= code < 300:
            return [Deliver(response)]
        if self.state is State.COMPLETED and code >= 300:
            return [Send(self.ack_for(response))]  # a retransmitted final response
        return []

    def ack_for(self, response: SIPResponse) -> SIPRequest:
        """The ACK for a non-2xx final response, inside the transaction [RFC 3261 §17.1.1.3]."""
        original = self.request
        headers = Headers()
        headers.add("Via", original.headers.get_all("Via")[0])
        for route in original.headers.get_all("Route"):
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", original.headers.get("From") or "")
        headers.add("To", response.headers.get("To") or "")
        headers.add("Call-ID", original.call_id)
        headers.add("CSeq", f"{original.cseq.number} ACK")
        return SIPRequest("ACK", original.uri, headers)


class ClientNonInviteTransaction(Transaction):
    """The non-INVITE client transaction [RFC 3261 §17.1.2]."""

    def start(self) -> list[Action]:
        """Send the request: Trying, with timers E (retransmit) and F (give up)."""
        self.state = State.TRYING
        actions: list[Action] = [Send(self.request)]
        if not self.reliable:
            actions.append(self._start("E", self.timers.t1))
        actions.append(self._start("F", 64 * self.timers.t1))
        return actions

    def _timer_e(self, interval: float) -> list[Action]:
        if self.state is State.TRYING:
            return [Send(self.request), self._start("E", min(2 * interval, self.timers.t2))]
        if self.state is State.PROCEEDING:
            return [Send(self.request), self._start("E", self.timers.t2)]
        return []

    def _timer_f(self, interval: float) -> list[Action]:
        if self.state in (State.TRYING, State.PROCEEDING):
            return self._terminate(TimedOut("F"))
        return []

    def _timer_k(self, interval: float) -> list[Action]:
        return self._terminate()

    def receive_response(self, response: SIPResponse) -> list[Action]:
        """A response matched to this transaction."""
        if self.state not in (State.TRYING, State.PROCEEDING):
            return []  # retransmissions in Completed are absorbed
        if response.status_code < 200:
            self.state = State.PROCEEDING
            return [Deliver(response)]
        self.state = State.COMPLETED
        self._intervals.pop("E", None)
        self._intervals.pop("F", None)
        wait = 0.0 if self.reliable else self.timers.t4
        return [StopTimer("E"), StopTimer("F"), Deliver(response), self._start("K", wait)]


# Server transactions ------------------------------------------------------------------------


class ServerInviteTransaction(Transaction):
    """The INVITE server transaction [RFC 3261 §17.2.1, RFC 6026 §8.5-8.7].

    :meth:`start` delivers the INVITE to the TU and sends 100 Trying only if
    the TU has not answered within 200 ms (timer "Trying"), or at once when
    the INVITE is retransmitted before any answer: a TU that answers at once
    spares the 100 [RFC 3261 §17.2.1].
    """

    #: How long the TU may take before 100 Trying goes out [RFC 3261 §17.2.1].
    trying_delay: float = 0.2

    def __init__(
        self, request: SIPRequest, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, reliable=reliable, timers=timers)
        self.last_response: SIPResponse | None = None

    def start(self) -> list[Action]:
        """Proceeding: hand the INVITE to the TU; 100 Trying if it has not answered in 200 ms."""
        self.state = State.PROCEEDING
        return [self._start("Trying", self.trying_delay), Deliver(self.request)]

    def _trying(self) -> list[Action]:
        self._intervals.pop("Trying", None)
        trying = self.request.create_response(100)
        self.last_response = trying
        return [Send(trying)]

    def _timer_trying(self, interval: float) -> list[Action]:
        if self.state is not State.PROCEEDING or self.last_response is not None:
            return []
        return self._trying()

    def receive_request(self, request: SIPRequest) -> list[Action]:
        """A retransmitted INVITE, or the ACK for a non-2xx final response."""
        if request.method == "ACK":
            if self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._intervals.pop("G", None)
                self._intervals.pop("H", None)
                wait = 0.0 if self.reliable else self.timers.t4
                return [StopTimer("G"), StopTimer("H"), self._start("I", wait)]
            return []
        if self.state in (State.PROCEEDING, State.COMPLETED):
            if self.last_response is None:
                return self._trying()  # the peer retransmits: no answer from the TU yet
            return [Send(self.last_response)]
        return []  # Accepted: retransmitted INVITEs are absorbed [RFC 6026 §8.7]

    def send_response(self, response: SIPResponse) -> list[Action]:
        """The TU's response to the INVITE."""
        code = response.status_code
        if self.state is State.PROCEEDING:
            self.last_response = response
            self._intervals.pop("Trying", None)  # its timer, when it fires, is ignored
            if code < 200:
                return [Send(response)]
            if code < 300:
                # Accepted absorbs retransmitted INVITEs and needs the 2xx no more
                # (the dialog resends it) [RFC 6026 §8.7]: not kept for timer L's 32 s.
                self.state = State.ACCEPTED
                self.last_response = None
                return [Send(response), self._start("L", 64 * self.timers.t1)]
            self.state = State.COMPLETED
            actions: list[Action] = [Send(response)]
            if not self.reliable:
                actions.append(self._start("G", self.timers.t1))
            actions.append(self._start("H", 64 * self.timers.t1))
            return actions
        if self.state is State.ACCEPTED and 200 <= code < 300:
            return [Send(response)]  # the dialog layer retransmits its 2xx [RFC 6026 §8.6]
        return []

    def _timer_g(self, interval: float) -> list[Action]:
        if self.state is not State.COMPLETED or self.last_response is None:
            return []
        return [Send(self.last_response), self._start("G", min(2 * interval, self.timers.t2))]

    def _timer_h(self, interval: float) -> list[Action]:
        if self.state is not State.COMPLETED:
            return []
        return self._terminate(TimedOut("H"))

    def _timer_i(self, interval: float) -> list[Action]:
        return self._terminate()

    def _timer_l(self, interval: float) -> list[Action]:
        return self._terminate()


class ServerNonInviteTransaction(Transaction):
    """The non-INVITE server transaction [RFC 3261 §17.2.2]."""

    def __init__(
        self, request: SIPRequest, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, reliable=reliable, timers=timers)
        self.last_response: SIPResponse | None = None

    def start(self) -> list[Action]:
        """Trying: hand the request to the TU."""
        self.state = State.TRYING
        return [Deliver(self.request)]

    def receive_request(self, request: SIPRequest) -> list[Action]:
        """A retransmission of the request: answer with the last response, if any."""
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            return [Send(self.last_response)]
        return []

    def send_response(self, response: SIPResponse) -> list[Action]:
        """The TU's response."""
        if self.state not in (State.TRYING, State.PROCEEDING):
            return []
        self.last_response = response
        if response.status_code < 200:
            self.state = State.PROCEEDING
            return [Send(response)]
        self.state = State.COMPLETED
        wait = 0.0 if self.reliable else 64 * self.timers.t1
        return [Send(response), self._start("J", wait)]

    def _timer_j(self, interval: float) -> list[Action]:
        return self._terminate()
