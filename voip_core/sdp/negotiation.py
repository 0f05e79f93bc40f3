"""Media formats and the SDP offer/answer model [RFC 3264].

A :class:`MediaFormat` is one RTP payload format as SDP names it
(``a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`` plus ``a=fmtp``).
:func:`create_offer` and :func:`create_answer` build whole session
descriptions; :func:`negotiate_formats` is the format intersection an
answerer computes [RFC 3264 §6.1].
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from voip_core.errors import NegotiationError, ParseError
from voip_core.sdp.description import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "MediaFormat",
    "assign_payload_types",
    "create_answer",
    "create_offer",
    "negotiate_formats",
    "reverse_direction",
]

# Formats that travel beside a codec but are not one: DTMF [RFC 4733 §2.5.1],
# comfort noise [RFC 3389 §5], redundancy [RFC 2198], retransmission
# [RFC 4588] and forward error correction [RFC 5109, RFC 8627].
_AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn", "red", "rtx", "ulpfec", "flexfec"})

_REVERSED_DIRECTIONS = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


#: ``a=rtpmap`` values (and fmtp) read before -> the format: peers send the same
#: few again and again. Bounded: emptied when full; long texts are not kept.
_RTPMAPS: dict[tuple[str, str | None], MediaFormat] = {}
_RTPMAPS_LIMIT = 512
_RTPMAP_TEXT_LIMIT = 128


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """One RTP payload format [RFC 8866 §6.6, RFC 3551 §6].

    Args:
        payload_type: 0..127, or None for a dynamic format that has yet to be
            given a number (:func:`assign_payload_types`).
        encoding_name: As in ``a=rtpmap`` (``PCMU``, ``opus``,
            ``telephone-event``); compared case-insensitively.
        clock_rate: RTP clock rate in Hz (8000 for G.722, per RFC 3551 §4.5.2).
        channels: Audio channels; a missing count in ``a=rtpmap`` means 1.
        fmtp: The ``a=fmtp`` parameters, without the payload type.
    """

    payload_type: int | None
    encoding_name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @classmethod
    def from_rtpmap(cls, value: str, fmtp: str | None = None) -> MediaFormat:
        """Read an ``a=rtpmap`` value, ``<pt> <encoding>/<clock rate>[/<channels>]``.

        Raises:
            ParseError: the value does not follow RFC 8866 §6.6.
        """
        if cls is MediaFormat:  # formats are frozen: one read serves every call that offers it
            known = _RTPMAPS.get((value, fmtp))
            if known is not None:
                return known
        payload_text, _, mapping = value.partition(" ")
        parts = mapping.strip().split("/")
        count = len(parts)
        if count == 2:
            digits = payload_text + parts[1]
            shortest = min(len(payload_text), len(parts[1]))
            longest = max(len(payload_text), len(parts[1]))
        elif count == 3:
            digits = payload_text + parts[1] + parts[2]
            shortest = min(len(payload_text), len(parts[1]), len(parts[2]))
            longest = max(len(payload_text), len(parts[1]), len(parts[2]))
        else:
            digits, shortest, longest = "", 0, 0
        # Every number 1 to 9 ASCII digits: the lengths, then all digits at once.
        if (
            not parts[0]
            or not shortest
            or longest >= 10
            or not (digits.isdigit() and digits.isascii())
        ):
            raise ParseError(
                "a=rtpmap must be <pt> <encoding>/<rate>[/<channels>]", line=f"a=rtpmap:{value}"
            )
        payload_type = int(payload_text)
        clock_rate = int(parts[1])
        channel_count = int(parts[2]) if count == 3 else 1
        if payload_type > 127 or clock_rate == 0 or not 0 < channel_count < 256:
            raise ParseError(
                "a=rtpmap payload type, rate or channels out of range", line=f"a=rtpmap:{value}"
            )
        media_format = cls(payload_type, parts[0], clock_rate, channel_count, fmtp)
        if cls is MediaFormat and len(value) <= _RTPMAP_TEXT_LIMIT:
            if len(_RTPMAPS) >= _RTPMAPS_LIMIT:
                _RTPMAPS.clear()
            _RTPMAPS[(value, fmtp)] = media_format
        return media_format

    @property
    def rtpmap_value(self) -> str:
        """``<encoding>/<clock rate>[/<channels>]``, e.g. ``opus/48000/2``."""
        if self.channels == 1:
            return f"{self.encoding_name}/{self.clock_rate}"
        return f"{self.encoding_name}/{self.clock_rate}/{self.channels}"

    @property
    def is_auxiliary(self) -> bool:
        """Whether this is DTMF, comfort noise, RED, RTX or FEC rather than a codec."""
        return self.encoding_name.lower() in _AUXILIARY_ENCODINGS

    def matches(self, other: MediaFormat) -> bool:
        """Same encoding (case-insensitive), clock rate and channel count.

        Payload type numbers and fmtp are not compared: a dynamic payload type
        means nothing outside its own description [RFC 3264 §6.1].
        """
        return (
            self.clock_rate == other.clock_rate
            and self.channels == other.channels
            and self.encoding_name.lower() == other.encoding_name.lower()
        )

    def attributes(self) -> list[Attribute]:
        """The ``a=rtpmap`` line and, if there are parameters, the ``a=fmtp`` line.

        Raises:
            ValueError: the payload type has not been assigned.
        """
        if self.payload_type is None:
            raise ValueError(f"{self.rtpmap_value} has no payload type yet")
        rtpmap = Attribute("rtpmap", f"{self.payload_type} {self.rtpmap_value}")
        if not self.fmtp:
            return [rtpmap]
        return [rtpmap, Attribute("fmtp", f"{self.payload_type} {self.fmtp}")]


#: The static payload types of RFC 3551 §6 (Tables 4 and 5); numbers the RFC
#: marks reserved or unassigned (1, 2, 19-24, 27, 29, 30, 35-95) are absent.
STATIC_PAYLOAD_TYPES: Mapping[int, MediaFormat] = MappingProxyType(
    {
        payload_type: MediaFormat(payload_type, name, clock_rate, channels)
        for payload_type, name, clock_rate, channels in (
            (0, "PCMU", 8000, 1),
            (3, "GSM", 8000, 1),
            (4, "G723", 8000, 1),
            (5, "DVI4", 8000, 1),
            (6, "DVI4", 16000, 1),
            (7, "LPC", 8000, 1),
            (8, "PCMA", 8000, 1),
            (9, "G722", 8000, 1),
            (10, "L16", 44100, 2),
            (11, "L16", 44100, 1),
            (12, "QCELP", 8000, 1),
            (13, "CN", 8000, 1),
            (14, "MPA", 90000, 1),
            (15, "G728", 8000, 1),
            (16, "DVI4", 11025, 1),
            (17, "DVI4", 22050, 1),
            (18, "G729", 8000, 1),
            (25, "CelB", 90000, 1),
            (26, "JPEG", 90000, 1),
            (28, "nv", 90000, 1),
            (31, "H261", 90000, 1),
            (32, "MPV", 90000, 1),
            (33, "MP2T", 90000, 1),
            (34, "H263", 90000, 1),
        )
    }
)


def _names(formats: Sequence[MediaFormat]) -> str:
    return ", ".join(media_format.rtpmap_value for media_format in formats) or "nothing"


def negotiate_formats(
    offered: Sequence[MediaFormat], supported: Sequence[MediaFormat]
) -> list[MediaFormat]:
    """The offered formats we support, in the offerer's order [RFC 3264 §6.1].

    Each result is the offerer's format as offered: its payload type number
    (dynamic ones are matched by name, clock rate and channels, never by
    number) and its fmtp. Auxiliary formats (telephone-event [RFC 4733],
    comfort noise [RFC 3389], ...) are kept when both sides list them, but
    they do not make a session on their own.

    Raises:
        NegotiationError: no codec in common; the message lists both sides.
    """
    common = [
        media_format
        for media_format in offered
        if any(media_format.matches(ours) for ours in supported)
    ]
    if all(media_format.is_auxiliary for media_format in common):
        raise NegotiationError(
            f"no common audio codec: offered {_names(offered)}; supported {_names(supported)}"
        )
    return common


def assign_payload_types(formats: Sequence[MediaFormat]) -> list[MediaFormat]:
    """Give each format without a payload type a dynamic number [RFC 3551 §3].

    Numbers are taken from 96 upwards, skipping any already used in
    ``formats``; formats that have a number keep it.

    Raises:
        ValueError: a payload type outside 0..127, or more than the 32
            dynamic numbers (96..127) needed.
    """
    used = {media_format.payload_type for media_format in formats}
    for payload_type in used:
        if payload_type is not None and not 0 <= payload_type <= 127:
            raise ValueError(f"payload type {payload_type} is out of range 0..127")
    candidate = 96
    result: list[MediaFormat] = []
    for media_format in formats:
        if media_format.payload_type is None:
            while candidate in used:
                candidate += 1
            if candidate > 127:
                raise ValueError("no dynamic payload type (96..127) left")
            used.add(candidate)
            media_format = replace(media_format, payload_type=candidate)
        result.append(media_format)
    return result


def reverse_direction(direction: str) -> str:
    """The answer's direction for an offered one [RFC 3264 §6.1].

    ``sendonly`` and ``recvonly`` swap; ``sendrecv`` and ``inactive`` stay.

    Raises:
        ValueError: not one of the four direction attributes.
    """
    try:
        return _REVERSED_DIRECTIONS[direction]
    except KeyError:
        raise ValueError(f"unknown direction {direction!r}") from None


def _origin(address: str, session_id: int | None) -> Origin:
    """A fresh ``o=`` line; the id is random when not given [RFC 8866 §5.2].

    The id stays below 2**62 so that peers storing it in a signed 64-bit
    integer can increment the version safely [RFC 3264 §5].
    """
    if session_id is None:
        session_id = secrets.randbits(62)
    connection = Connection.for_address(address)
    return Origin(
        session_id=session_id,
        session_version=session_id,
        address_type=connection.address_type,
        address=address,
    )


def create_offer(
    formats: Sequence[MediaFormat],
    *,
    address: str,
    port: int,
    session_id: int | None = None,
    ptime: int | None = 20,
    direction: str = "sendrecv",
    protocol: str = "RTP/AVP",
    extra_attributes: Iterable[Attribute] = (),
) -> SessionDescription:
    """An offer with one audio stream listing ``formats`` in preference order.

    [RFC 3264 §5]. Dynamic formats get payload types from 96 up. An IPv6
    ``address`` gives ``IP6`` in ``o=`` and ``c=``. ``extra_attributes``
    (``a=crypto``, ``a=rtcp-mux``, ...) are appended to the media section.

    Raises:
        ValueError: see :meth:`MediaDescription.for_formats`.
    """
    media = MediaDescription.for_formats(
        formats, port=port, address=address, protocol=protocol, ptime=ptime, direction=direction
    )
    media.attributes.extend(extra_attributes)
    return SessionDescription(origin=_origin(address, session_id), media=[media])


def create_answer(
    offer: SessionDescription,
    supported: Sequence[MediaFormat],
    *,
    address: str,
    port: int,
    session_id: int | None = None,
    ptime: int | None = None,
    protocols: Collection[str] = ("RTP/AVP",),
    extra_attributes: Iterable[Attribute] = (),
) -> SessionDescription:
    """The answer to ``offer`` [RFC 3264 §6].

    The answer has one ``m=`` line per offered one, in the same order. The
    first audio stream with a non-zero port, a protocol in ``protocols`` and
    a codec in common is accepted: its formats are :func:`negotiate_formats`
    of the offer's and ``supported``, its direction is the offer's reversed,
    and ``extra_attributes`` (say the chosen ``a=crypto`` for RTP/SAVP) are
    added to it. Every other stream is rejected with port 0 and the offered
    formats [RFC 3264 §6]. ``ptime`` None repeats the offer's ``a=ptime``,
    if it has a valid one. The ``t=`` lines are copied from the offer
    [RFC 3264 §6]. The address goes in a session-level ``c=`` line, so that
    rejected streams have one too, and in the accepted stream's.

    Raises:
        NegotiationError: no audio stream can be accepted; the message says
            why for each audio stream.
        ParseError: the accepted candidate stream has a malformed
            ``a=rtpmap`` or ``a=fmtp`` line.
    """
    answer_media: list[MediaDescription] = []
    reasons: list[str] = []
    accepted = False
    for index, offered in enumerate(offer.media, start=1):
        if not accepted and offered.media == "audio":
            if offered.port == 0:
                reasons.append(f"audio stream {index} is disabled (port 0)")
            elif offered.protocol not in protocols:
                reasons.append(
                    f"audio stream {index} uses {offered.protocol}, "
                    f"not one of {', '.join(protocols)}"
                )
            else:
                try:
                    formats = negotiate_formats(offered.media_formats, supported)
                except NegotiationError as error:
                    reasons.append(f"audio stream {index}: {error}")
                else:
                    media = MediaDescription.for_formats(
                        formats,
                        port=port,
                        address=address,
                        protocol=offered.protocol,
                        ptime=_offered_ptime(offered) if ptime is None else ptime,
                        direction=reverse_direction(offer.direction_of(offered)),
                    )
                    media.attributes.extend(extra_attributes)
                    answer_media.append(media)
                    accepted = True
                    continue
        answer_media.append(
            MediaDescription(
                media=offered.media,
                port=0,
                protocol=offered.protocol,
                formats=list(offered.formats),
            )
        )
    if not accepted:
        raise NegotiationError("; ".join(reasons) or "no audio stream offered")
    timings = [
        Timing(start=timing.start, stop=timing.stop, repeats=list(timing.repeats))
        for timing in offer.timings
    ]
    return SessionDescription(
        origin=_origin(address, session_id),
        connection=Connection.for_address(address),
        timings=timings or [Timing()],
        media=answer_media,
    )


def _offered_ptime(media: MediaDescription) -> int | None:
    try:
        return media.ptime
    except ParseError:
        return None  # a bad a=ptime is a hint we cannot read, not a reason to fail
