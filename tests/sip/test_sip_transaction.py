"""SIP transactions [RFC 3261 §17] on a virtual clock: every timer path, both transports."""

from __future__ import annotations

import heapq
import itertools

import pytest

from voip_core.sip.message import SIPRequest, SIPResponse, parse_message
from voip_core.sip.transaction import (
    MAGIC_COOKIE,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    StartTimer,
    State,
    StopTimer,
    Terminated,
    TimedOut,
    TimerConfig,
    TransportFailed,
    client_key,
    new_branch,
    server_key,
)

T1, T2, T4 = 0.5, 4.0, 5.0


def request(method: str = "INVITE", branch: str = "z9hG4bK-tx-1", cseq: int = 1) -> SIPRequest:
    raw = (
        f"{method} sip:bob@127.0.0.1:5062 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        "Route: <sip:proxy.example.com;lr>\r\n"
        "Max-Forwards: 70\r\n"
        "From: Alice <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: Bob <sip:bob@127.0.0.1>\r\n"
        "Call-ID: tx-test@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@127.0.0.1:5070>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    message = parse_message(raw)
    assert isinstance(message, SIPRequest)
    return message


def response_to(req: SIPRequest, code: int, to_tag: str | None = "b1") -> SIPResponse:
    return req.create_response(code, to_tag=to_tag if code > 100 else None)


class Clock:
    """A virtual clock driving one transaction's timers as the I/O layer would."""

    def __init__(self, transaction) -> None:
        self.transaction = transaction
        self.now = 0.0
        self.timers: dict[str, float] = {}
        self.log: list[tuple[float, object]] = []
        self._counter = itertools.count()

    def apply(self, actions) -> list:
        for action in actions:
            self.log.append((self.now, action))
            if isinstance(action, StartTimer):
                self.timers[action.name] = self.now + action.delay
            elif isinstance(action, StopTimer):
                self.timers.pop(action.name, None)
            elif isinstance(action, Terminated):
                self.timers.clear()
        return list(actions)

    def run_until(self, end: float) -> None:
        while self.timers:
            queue = [(when, next(self._counter), name) for name, when in self.timers.items()]
            heapq.heapify(queue)
            when, _, name = queue[0]
            if when > end:
                break
            self.now = when
            del self.timers[name]
            self.apply(self.transaction.timer_fired(name))
        self.now = max(self.now, end)

    def sends(self) -> list[float]:
        return [when for when, action in self.log if isinstance(action, Send)]

    def of(self, kind) -> list:
        return [action for _, action in self.log if isinstance(action, kind)]


# INVITE client [RFC 3261 §17.1.1] -----------------------------------------------------------


def test_invite_client_retransmits_with_doubling_timer_a_then_times_out_on_b():
    tx = ClientInviteTransaction(request())
    clock = Clock(tx)
    clock.apply(tx.start())
    assert tx.state is State.CALLING
    clock.run_until(40)
    # Timer A: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 (doubling, no cap); B fires at 64*T1 = 32 s.
    assert clock.sends() == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert clock.of(TimedOut) == [TimedOut("B")]
    assert tx.state is State.TERMINATED


def test_invite_client_over_tcp_sends_once_and_still_times_out():
    tx = ClientInviteTransaction(request(), reliable=True)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.run_until(40)
    assert clock.sends() == [0]
    assert clock.of(TimedOut) == [TimedOut("B")]


def test_provisional_stops_retransmission_and_timer_b():
    req = request()
    tx = ClientInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.run_until(0.7)
    clock.apply(tx.receive_response(response_to(req, 180)))
    assert tx.state is State.PROCEEDING
    clock.run_until(100)
    assert clock.sends() == [0, 0.5]
    assert clock.of(TimedOut) == []  # a UAC's TU gives up itself (CANCEL), not timer B
    assert [d.message.status_code for d in clock.of(Deliver)] == [180]


def test_non_2xx_final_is_acked_inside_the_transaction_and_retransmissions_reacked():
    req = request()
    tx = ClientInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    busy = response_to(req, 486)
    clock.apply(tx.receive_response(busy))
    assert tx.state is State.COMPLETED
    (ack,) = [s.message for s in clock.of(Send) if s.message.method == "ACK"]
    # RFC 3261 §17.1.1.3: same Request-URI, Call-ID, From, CSeq number, top Via, Route;
    # To from the response (with its tag).
    assert ack.uri == req.uri and ack.call_id == req.call_id
    assert (ack.cseq.number, ack.cseq.method) == (1, "ACK")
    assert ack.via[0].branch == "z9hG4bK-tx-1" and len(ack.via) == 1
    assert ack.to.tag == "b1" and ack.from_header.tag == "a1"
    assert [str(r.uri) for r in ack.route] == ["sip:proxy.example.com;lr"]
    assert [d.message.status_code for d in clock.of(Deliver)] == [486]
    clock.apply(tx.receive_response(busy))  # retransmitted 486: ACK again, not delivered again
    assert len([s for s in clock.of(Send) if s.message.method == "ACK"]) == 2
    assert len(clock.of(Deliver)) == 1
    clock.run_until(31.9)
    assert tx.state is State.COMPLETED  # timer D: 32 s over UDP
    clock.run_until(32.1)
    assert tx.state is State.TERMINATED


def test_2xx_goes_to_the_tu_each_time_until_timer_m():
    req = request()
    tx = ClientInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    ok = response_to(req, 200)
    clock.apply(tx.receive_response(ok))
    clock.apply(tx.receive_response(ok))  # retransmitted 200: the dialog must ACK it again
    assert tx.state is State.ACCEPTED
    assert [d.message.status_code for d in clock.of(Deliver)] == [200, 200]
    assert not [s for s in clock.of(Send) if s.message.method == "ACK"]  # the TU ACKs 2xx
    clock.run_until(64 * T1 + 0.1)
    assert tx.state is State.TERMINATED


def test_transport_error_ends_the_transaction():
    tx = ClientInviteTransaction(request())
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.apply(tx.transport_error())
    assert clock.of(TransportFailed) and tx.terminated and clock.timers == {}
    assert tx.transport_error() == []


# Non-INVITE client [RFC 3261 §17.1.2] -------------------------------------------------------


def test_non_invite_client_timer_e_caps_at_t2_and_f_times_out():
    tx = ClientNonInviteTransaction(request("REGISTER"))
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.run_until(40)
    # E: 0.5, 1, 2, 4, 4, 4 ... from 0; F at 32 s.
    sends = clock.sends()
    assert sends[:6] == [0, 0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(b - a == pytest.approx(T2) for a, b in itertools.pairwise(sends[4:]))
    assert sends[-1] < 32
    assert clock.of(TimedOut) == [TimedOut("F")]


def test_non_invite_client_proceeding_retransmits_every_t2():
    req = request("OPTIONS")
    tx = ClientNonInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.run_until(0.6)
    clock.apply(tx.receive_response(response_to(req, 100)))
    assert tx.state is State.PROCEEDING
    clock.run_until(12)
    assert clock.sends() == [0, 0.5, 1.5, 5.5, 9.5]


def test_non_invite_client_final_then_timer_k():
    req = request("BYE")
    for reliable, k in ((False, T4), (True, 0.0)):
        tx = ClientNonInviteTransaction(req, reliable=reliable)
        clock = Clock(tx)
        clock.apply(tx.start())
        clock.apply(tx.receive_response(response_to(req, 200)))
        clock.apply(tx.receive_response(response_to(req, 200)))  # absorbed
        assert tx.state is State.COMPLETED
        assert [d.message.status_code for d in clock.of(Deliver)] == [200]
        clock.run_until(k + 0.01)
        assert tx.state is State.TERMINATED


# INVITE server [RFC 3261 §17.2.1] -----------------------------------------------------------


def test_invite_server_sends_trying_after_200_ms_and_repeats_last_provisional():
    req = request()
    tx = ServerInviteTransaction(req)
    clock = Clock(tx)
    actions = clock.apply(tx.start())
    assert isinstance(actions[-1], Deliver) and actions[-1].message is req
    assert clock.of(Send) == []  # the TU may still answer within 200 ms [RFC 3261 §17.2.1]
    clock.run_until(0.21)
    assert [s.message.status_code for s in clock.of(Send)] == [100]
    clock.apply(tx.send_response(response_to(req, 180)))
    clock.apply(tx.receive_request(req))  # retransmitted INVITE
    assert [s.message.status_code for s in clock.of(Send)] == [100, 180, 180]


def test_invite_server_spares_trying_when_the_tu_answers_at_once():
    req = request()
    tx = ServerInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.apply(tx.send_response(response_to(req, 180)))
    clock.run_until(1)
    assert [s.message.status_code for s in clock.of(Send)] == [180]


def test_invite_server_answers_a_retransmission_before_any_answer_with_trying():
    req = request()
    tx = ServerInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.apply(tx.receive_request(req))
    clock.run_until(1)
    assert [s.message.status_code for s in clock.of(Send)] == [100]


def test_invite_server_non_2xx_retransmits_on_g_until_ack_then_i():
    req = request()
    tx = ServerInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.apply(tx.send_response(response_to(req, 486)))
    clock.run_until(10)
    finals = [when for when, a in clock.log if isinstance(a, Send) and a.message.status_code == 486]
    assert finals == [0, 0.5, 1.5, 3.5, 7.5]  # G doubles up to T2
    ack = request("ACK")
    clock.apply(tx.receive_request(ack))
    assert tx.state is State.CONFIRMED
    clock.run_until(10 + T4 - 0.01)
    assert tx.state is State.CONFIRMED
    clock.run_until(10 + T4 + 0.01)
    assert tx.state is State.TERMINATED
    assert clock.of(TimedOut) == []


def test_invite_server_gives_up_on_h_without_ack():
    req = request()
    tx = ServerInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.apply(tx.send_response(response_to(req, 603)))
    clock.run_until(40)
    assert clock.of(TimedOut) == [TimedOut("H")]
    finals = [w for w, a in clock.log if isinstance(a, Send) and a.message.status_code == 603]
    assert finals[-1] < 32 and all(b - a <= T2 for a, b in itertools.pairwise(finals))


def test_invite_server_2xx_accepted_absorbs_retransmissions_until_l():
    req = request()
    tx = ServerInviteTransaction(req, reliable=True)
    clock = Clock(tx)
    clock.apply(tx.start())
    ok = response_to(req, 200)
    clock.apply(tx.send_response(ok))
    assert tx.state is State.ACCEPTED
    assert tx.last_response is None  # not kept for timer L: the dialog resends its 2xx
    clock.apply(tx.receive_request(req))  # retransmitted INVITE: absorbed
    clock.apply(tx.send_response(ok))  # the dialog layer's 2xx retransmission passes
    assert [s.message.status_code for s in clock.of(Send)] == [200, 200]
    clock.run_until(64 * T1 + 0.01)
    assert tx.terminated


# Non-INVITE server [RFC 3261 §17.2.2] -------------------------------------------------------


def test_non_invite_server_absorbs_then_repeats_final_until_j():
    req = request("OPTIONS")
    tx = ServerNonInviteTransaction(req)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.apply(tx.receive_request(req))  # Trying: absorbed, the TU has not answered
    assert clock.of(Send) == []
    clock.apply(tx.send_response(response_to(req, 200)))
    clock.apply(tx.receive_request(req))
    assert [s.message.status_code for s in clock.of(Send)] == [200, 200]
    clock.run_until(64 * T1 - 0.01)
    assert tx.state is State.COMPLETED
    clock.run_until(64 * T1 + 0.01)
    assert tx.terminated


def test_configurable_timers():
    timers = TimerConfig(t1=0.1, t2=0.4, t4=1.0)
    tx = ClientNonInviteTransaction(request("MESSAGE"), timers=timers)
    clock = Clock(tx)
    clock.apply(tx.start())
    clock.run_until(10)
    assert clock.sends()[:5] == pytest.approx([0, 0.1, 0.3, 0.7, 1.1])
    assert clock.of(TimedOut) and clock.now >= 6.4


# Matching [RFC 3261 §17.1.3, §17.2.3] -------------------------------------------------------


def test_matching_keys():
    invite = request("INVITE", branch="z9hG4bK-m1")
    cancel = request("CANCEL", branch="z9hG4bK-m1")
    ack = request("ACK", branch="z9hG4bK-m1")
    assert server_key(ack) == server_key(invite)  # the non-2xx ACK matches its INVITE
    assert server_key(cancel) != server_key(invite)  # CANCEL is its own transaction
    assert client_key(response_to(invite, 180)) == ("z9hG4bK-m1", "INVITE")
    assert client_key(response_to(cancel, 200)) == ("z9hG4bK-m1", "CANCEL")
    old = request("INVITE", branch="1")  # RFC 2543 peer: no magic cookie
    assert server_key(old)[0] == "2543"
    assert server_key(request("ACK", branch="1")) == server_key(old)
    assert new_branch().startswith(MAGIC_COOKIE) and new_branch() != new_branch()
