"""Session: one call's media stream over a shared RTP endpoint.

A Session is made for each call once its remote media description is known
(an INVITE's offer, or the answer to our offer). It registers itself on the
:class:`~voip_core.rtp.protocol.RealtimeTransportProtocol` under the remote
address, negotiates a codec from ``supported_codecs`` in the offerer's order
[RFC 3264 §6.1], and sends and receives RTP packets. Subclasses
(:class:`voip_core.audio.AudioCall` and below) turn packets into audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from voip_core.errors import NegotiationError, VoIPError
from voip_core.rtp.packet import RTPPacket
from voip_core.rtp.protocol import RealtimeTransportProtocol
from voip_core.rtp.rtcp_session import RTCPSession
from voip_core.sdp.negotiation import MediaFormat, assign_payload_types

if TYPE_CHECKING:
    from voip_core.codecs.base import RTPCodec
    from voip_core.rtp.protocol import Address
    from voip_core.rtp.rtcp_session import CallStats
    from voip_core.sdp.description import MediaDescription

__all__ = ["TELEPHONE_EVENT", "Session"]

logger = logging.getLogger(__name__)

#: RFC 4733 DTMF events, offered beside every audio codec.
TELEPHONE_EVENT = MediaFormat(
    payload_type=101, encoding_name="telephone-event", clock_rate=8000, fmtp="0-16"
)

#: What :meth:`Session.sdp_formats` made of a list of codecs (MediaFormat is
#: frozen, so the results can be shared), bounded: emptied when full.
_SDP_FORMATS: dict[tuple[object, ...], tuple[MediaFormat, ...]] = {}
_SDP_FORMATS_LIMIT = 64
_default_media_format: object = None


def _format_key(codec: type[RTPCodec]) -> object:
    """What ``codec.media_format()`` and ``codec.clock_rate`` depend on.

    The class attributes the default :meth:`RTPCodec.media_format` reads, so
    that a changed attribute is a new key; a codec with a media_format of its
    own is asked for it.
    """
    global _default_media_format
    if _default_media_format is None:  # imported late: voip_core.codecs brings numpy
        from voip_core.codecs.base import RTPCodec

        _default_media_format = RTPCodec.media_format.__func__  # type: ignore[attr-defined]
    if getattr(codec.media_format, "__func__", None) is not _default_media_format:
        return (codec, codec.media_format(), codec.clock_rate)
    return (
        codec,
        codec.static_payload_type,
        codec.encoding_name,
        codec.clock_rate,
        codec.channels,
        codec.default_fmtp,
    )


class _DialogReference:
    """:attr:`Session.dialog`: held during the call, held weakly once the call has ended.

    A dialog holds its session and the session its dialog: a reference cycle,
    which CPython frees only when its cyclic garbage collector next runs,
    after visiting every young object there is. For a server answering
    hundreds of calls a second that was several per cent of its CPU time.
    Once the user agent is done with an ended call it calls
    :meth:`Session._let_go_of_dialog`, and the pair is freed as soon as
    nobody holds the dialog any more.
    """

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return None  # the field's default
        held = instance.__dict__.get("_dialog")
        if type(held) is weakref.ref:
            return held()
        return held

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__["_dialog"] = value


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class Session:
    """The media side of one call.

    Args:
        rtp: The RTP endpoint this call sends and receives on.
        dialog: The SIP dialog this call belongs to (``None`` without SIP);
            :meth:`hang_up` calls its ``bye()``. Once the call has ended
            and the user agent has let it go, the session holds its dialog
            weakly: ``dialog`` is ``None`` when nothing else holds it (the
            dialog holds its session as long as it lives).
        media: The remote party's media description (``m=`` section).
        caller: Who is calling, for logs and apps (a SIP URI or a name).
        srtp: The call's SRTP (an object with ``protect(rtp) -> srtp`` for what
            we send and ``unprotect(srtp) -> rtp`` for what arrives, raising a
            :class:`~voip_core.errors.VoIPError` on a packet that fails: see
            :class:`voip_core.srtp.SRTPSession`), or ``None`` for plain RTP.
        remote_address: Where to send RTP; defaults to the ``c=`` and port of
            ``media``. Pass it when the connection line is session-level.
        direction: Our side's media direction [RFC 3264 §6.1]: ``sendrecv``,
            ``sendonly`` (we hold the remote: we send, we drop what arrives),
            ``recvonly`` (the remote holds us: we send nothing) or
            ``inactive``. A re-INVITE changes it through :meth:`media_updated`.

    Example: a session that counts packets, on loopback:

        >>> import asyncio
        >>> from voip_core.rtp.packet import RTPPacket
        >>> from voip_core.sdp import MediaDescription
        >>> from voip_core.sdp.negotiation import MediaFormat
        >>> class Counter(Session):
        ...     def packet_received(self, packet):
        ...         super().packet_received(packet)
        ...         self.last = packet.sequence_number
        >>> async def main():
        ...     rtp = await RealtimeTransportProtocol.bind()
        ...     host, port = rtp.local_address
        ...     pcmu = MediaFormat(payload_type=0, encoding_name="PCMU", clock_rate=8000)
        ...     media = MediaDescription.for_formats([pcmu], port=port, address=host)
        ...     call = Counter(rtp=rtp, media=media)  # talks to itself
        ...     for number in (1, 2):
        ...         call.send_packet(RTPPacket(payload_type=0, sequence_number=number,
        ...                                    timestamp=160 * number, ssrc=7, payload=bytes(160)))
        ...     await asyncio.sleep(0.05)
        ...     call.close()
        ...     rtp.close()
        ...     return call.packets_sent, call.packets_received, call.last
        >>> asyncio.run(main())
        (2, 2, 2)
    """

    #: Codec classes this session can use, in our order of preference.
    supported_codecs: ClassVar[Sequence[type[RTPCodec]]] = ()
    #: On a call's own RTP port, send to where the peer's media comes from
    #: rather than to its SDP address [RFC 4961] (see
    #: :mod:`voip_core.rtp.protocol` for the guard against strangers).
    symmetric_rtp: ClassVar[bool] = True
    #: Send and receive RTCP reports (on a call's own port; see :meth:`start_rtcp`).
    use_rtcp: ClassVar[bool] = True
    #: The minimum interval between our RTCP reports [RFC 3550 §6.2].
    rtcp_minimum_interval: ClassVar[float] = 5.0

    rtp: RealtimeTransportProtocol
    dialog: Any = _DialogReference()
    media: MediaDescription
    caller: str | None = None
    srtp: Any = None
    remote_address: Address | None = None
    direction: str = "sendrecv"
    rtcp_mux: bool = False
    rtcp_address: Address | None = None

    def __post_init__(self) -> None:
        if self.remote_address is None:
            if self.media.connection is None:
                raise ValueError("media has no c= line: pass remote_address")
            self.remote_address = (self.media.connection.address, self.media.port)
        self.closed = asyncio.Event()
        self.packets_sent = 0
        self.payload_bytes_sent = 0
        self.packets_received = 0
        self.packets_not_sent = 0
        #: The SSRC of the media arriving (None before the first packet).
        self.remote_ssrc: int | None = None
        #: The call's RTCP, once :meth:`start_rtcp` ran (None: no RTCP).
        self.rtcp: RTCPSession | None = None
        self._rtcp_armed: tuple[int, int] | None = None
        self.rtcp_failures = 0
        self.rtp.register(self.remote_address, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(remote={self.remote_address}, caller={self.caller!r})"

    @classmethod
    def sdp_formats(cls) -> list[MediaFormat]:
        """The formats to offer: every supported codec, then telephone-event.

        telephone-event is offered at 8000 Hz and at every other clock rate of
        the codecs, as RFC 4733 §2.1 wants it at the audio codec's rate.
        Dynamic payload types are numbered from 96 [RFC 3551 §3].
        """
        supported = tuple(cls.supported_codecs)
        # Every call asks, and the answer depends only on what each codec's
        # media_format() and clock_rate say: kept under those.
        key = tuple(map(_format_key, supported))
        known = _SDP_FORMATS.get(key)
        if known is None:
            formats = [codec.media_format() for codec in supported]
            rates = sorted({codec.clock_rate for codec in supported} - {8000})
            formats.append(TELEPHONE_EVENT)
            formats += [
                dataclasses.replace(TELEPHONE_EVENT, payload_type=None, clock_rate=rate)
                for rate in rates
            ]
            known = tuple(assign_payload_types(formats))
            if len(_SDP_FORMATS) >= _SDP_FORMATS_LIMIT:
                _SDP_FORMATS.clear()
            _SDP_FORMATS[key] = known
        return list(known)

    def negotiate_codec(self, media: MediaDescription) -> RTPCodec:
        """The codec for this call: the first of the remote's formats we support.

        The remote's order wins, as the offerer's order does in RFC 3264 §6.1;
        its payload type number and fmtp are kept.

        Raises:
            NegotiationError: No format in common (SIP answers 488).
        """
        supported = list(self.supported_codecs)
        for media_format in media.media_formats:
            for codec in supported:
                if codec.matches(media_format):
                    return codec.from_media_format(media_format, **self._codec_options())
        offered = ", ".join(f.rtpmap_value for f in media.media_formats) or "nothing"
        ours = ", ".join(c.media_format().rtpmap_value for c in supported) or "nothing"
        raise NegotiationError(f"no common codec: remote offers {offered}; we support {ours}")

    def _codec_options(self) -> dict[str, Any]:
        return {}

    def packet_received(self, packet: RTPPacket) -> None:
        """Called for every RTP packet from the remote address. Override it."""
        self.packets_received += 1

    # RTCP [RFC 3550 §6] ---------------------------------------------------------------------

    def start_rtcp(self, clock_rate: int, ssrc: int) -> None:
        """Send and receive RTCP for this call: on the RTP port with ``rtcp_mux``
        [RFC 5761], else on the port above (ours, and the peer's unless its SDP
        says ``a=rtcp``) [RFC 3550 §11]. Only on a call's own port: a shared
        endpoint has no RTCP socket. :class:`~voip_core.audio.AudioCall` calls it.

        The reports start with the first RTP packet sent or received: a call
        that carries no media (a signalling test, a call rejected at once)
        costs no RTCP socket, timer or report.
        """
        if self.use_rtcp and self.rtcp is None:
            self._rtcp_armed = (clock_rate, ssrc)

    def _begin_rtcp(self) -> RTCPSession | None:
        armed, self._rtcp_armed = self._rtcp_armed, None
        if armed is None or self.closed.is_set():
            return None
        clock_rate, ssrc = armed
        if not self.rtcp_mux and not getattr(self.rtp, "start_rtcp", lambda _: False)(
            self.rtcp_received
        ):
            return None
        self.rtcp = RTCPSession(
            self, clock_rate=clock_rate, ssrc=ssrc, minimum_interval=self.rtcp_minimum_interval
        )
        return self.rtcp

    def send_rtcp(self, data: bytes) -> None:
        """Send one compound RTCP packet (SRTCP-protected with SRTP) to the peer."""
        assert self.remote_address is not None
        if self.srtp is not None:
            data = self.srtp.protect_rtcp(data)
        if self.rtcp_mux:
            self.rtp.send(data, self.remote_address)
            return
        host, port = self.remote_address
        self.rtp.send_rtcp(data, self.rtcp_address or (host, port + 1))

    def rtcp_received(self, data: bytes, address: Address) -> None:
        """An RTCP datagram from the peer (on the RTCP port, or multiplexed)."""
        if self.srtp is not None:
            try:
                data = self.srtp.unprotect_rtcp(data)
            except VoIPError as error:
                self.rtcp_failures += 1
                if self.rtcp_failures & (self.rtcp_failures - 1) == 0:
                    logger.info(
                        "%r: SRTCP dropped: %s (%d so far)", self, error, self.rtcp_failures
                    )
                return
        if self.rtcp is not None:
            self.rtcp.rtcp_received(data)

    @property
    def stats(self) -> CallStats | None:
        """Loss, jitter, round-trip time and MOS from RTCP (None without RTCP)."""
        return self.rtcp.stats if self.rtcp is not None else None

    def accepts_payload_type(self, payload_type: int) -> bool:
        """Whether media of ``payload_type`` may be this call's (symmetric RTP's guard)."""
        return True

    def remote_moved(self, address: Address) -> None:
        """The peer's media comes from ``address``: send there from now on [RFC 4961]."""
        assert self.remote_address is not None
        self.rtp.unregister(self.remote_address, self)
        self.remote_address = address
        self.rtp.register(address, self)

    @property
    def sends_media(self) -> bool:
        """Whether the direction lets us send media (``sendrecv`` or ``sendonly``)."""
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives_media(self) -> bool:
        """Whether the direction lets us receive media (``sendrecv`` or ``recvonly``)."""
        return self.direction in ("sendrecv", "recvonly")

    def media_updated(
        self, media: MediaDescription, remote_address: Address, direction: str
    ) -> None:
        """A re-INVITE changed the stream: new remote address and our direction [RFC 3264 §8].

        Hold and resume arrive here: the remote offering ``sendonly`` makes our
        side ``recvonly`` (we stop sending), ``sendrecv`` resumes. The codec
        stays the one negotiated first (RFC 3264 §8.3.2 lets either side keep
        it as long as the new answer still lists it).
        """
        self.media = media
        if remote_address != self.remote_address:
            self.remote_moved(remote_address)
            self.remote_ssrc = None  # a new stream may come from anywhere again
        if direction != self.direction:
            logger.info("%r: media %s -> %s", self, self.direction, direction)
        self.direction = direction

    def send_packet(self, packet: RTPPacket) -> None:
        """Send one RTP packet to the remote party (unless the direction forbids it)."""
        assert self.remote_address is not None
        if not self.sends_media:
            self.packets_not_sent += 1
            return
        data = packet.serialize()
        if self.srtp is not None:
            data = self.srtp.protect(data)
        self.rtp.send(data, self.remote_address)
        self.packets_sent += 1
        self.payload_bytes_sent += len(packet.payload)
        rtcp = self.rtcp if self._rtcp_armed is None else self._begin_rtcp()
        if rtcp is not None:
            rtcp.rtp_sent(packet)

    def close(self) -> None:
        """Stop the media: unregister from the RTP endpoint (close it if it is the call's own).

        Idempotent.
        """
        if self.closed.is_set():
            return
        assert self.remote_address is not None
        if self.rtcp is not None:
            self.rtcp.close()  # a last report, with BYE
            logger.info("%r: %s", self, self.rtcp.stats.summary())
        self.rtp.unregister(self.remote_address, self)
        if getattr(self.rtp, "dedicated", False):
            self.rtp.close()
        self.closed.set()

    def hang_up(self) -> None:
        """End the call: stop the media and send BYE through the dialog, if any."""
        self.close()
        if self.dialog is not None:
            result = self.dialog.bye()
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                _pending_hang_ups.add(task)
                task.add_done_callback(_hang_up_done)

    def _let_go_of_dialog(self) -> None:
        """The call has ended and its user agent is done with it: hold the dialog weakly."""
        dialog = self.__dict__.get("_dialog")
        if dialog is not None and type(dialog) is not weakref.ref:
            with contextlib.suppress(TypeError):  # a dialog class without weak references
                self.__dict__["_dialog"] = weakref.ref(dialog)

    async def wait_closed(self) -> None:
        """Wait until the call's media has stopped."""
        await self.closed.wait()


_pending_hang_ups: set[asyncio.Future[Any]] = set()


def _hang_up_done(task: asyncio.Future[Any]) -> None:
    _pending_hang_ups.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("hang-up failed: %s", task.exception())
