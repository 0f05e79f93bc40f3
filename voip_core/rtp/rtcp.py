"""RTCP: control packets, reception statistics, report timing and call quality [RFC 3550 §6].

This module is sans-I/O. Its packet classes are layer 1 of voip-core (bytes in,
objects out, and back); :class:`ReceiverStatistics`, :class:`SenderStatistics`
and :class:`RTCPScheduler` are layer 2 state machines that take events with
explicit times and say what to send and when. Nothing here owns a socket, a
timer or a clock.

Packets [RFC 3550 §6.4 - §6.6]. Every RTCP packet starts with the same header::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|   count |      PT       |  length (32-bit words - 1)    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

:class:`SenderReport` (SR, 200), :class:`ReceiverReport` (RR, 201),
:class:`SourceDescription` (SDES, 202) and :class:`Bye` (BYE, 203) are parsed.
Every other type (APP 204, RTPFB 205 and PSFB 206 of RFC 4585, XR 207 of
RFC 3611, ...) is kept whole as a :class:`RawRTCPPacket`, so it survives a
parse/serialize round trip. Several packets travel together in one datagram,
a compound packet [RFC 3550 §6.1]: :func:`parse_compound` and
:func:`serialize_compound`.

Validity [RFC 3550 Appendix A.2]. :func:`parse_compound` always checks that
every packet has version 2, that the length fields add up to the datagram
exactly, and that a padding count is non-zero, a multiple of four and within
its packet [RFC 3550 §6.4.1]. With ``strict=True`` it also checks the two
rules real peers break: the first packet must be an SR or an RR, and only the
last packet may be padded. The default is lenient, because peers do send
packets alone, outside a compound: a lone BYE when they hang up, a lone SDES,
and reduced-size RTCP (a lone feedback packet, RFC 5506). Those parse as
they are; nothing is invented for them. Padding is stripped on parse and
:func:`serialize_compound` never adds any.

Example:
    >>> block = ReportBlock(
    ...     ssrc=0x1234, fraction_lost=64, cumulative_lost=-1,
    ...     highest_sequence=70000, jitter=12, last_sr=0, delay_since_last_sr=0,
    ... )
    >>> wire = serialize_compound([ReceiverReport(ssrc=1, reports=(block,))])
    >>> wire[:4].hex()
    '81c90007'
    >>> [report] = parse_compound(wire)
    >>> report.reports[0].cumulative_lost
    -1
    >>> round(estimate_mos(rtt_seconds=0.0, jitter_seconds=0.0, loss_fraction=0.0), 2)
    4.4
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar, Self, TypeAlias, TypeVar

from voip_core.errors import ParseError

__all__ = [
    "CODEC_IMPAIRMENTS",
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "NTP_UNIX_OFFSET",
    "Bye",
    "CodecImpairment",
    "RTCPPacket",
    "RTCPPacketType",
    "RTCPScheduler",
    "RawRTCPPacket",
    "ReceiverReport",
    "ReceiverStatistics",
    "ReportBlock",
    "SDESChunk",
    "SDESItem",
    "SDESItemType",
    "SenderReport",
    "SenderStatistics",
    "SourceDescription",
    "estimate_mos",
    "ntp_from_unix",
    "ntp_short",
    "parse_compound",
    "round_trip_time",
    "rtcp_interval",
    "serialize_compound",
    "unix_from_ntp",
]


class RTCPPacketType(IntEnum):
    """RTCP packet types [RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611 §2]."""

    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205
    PSFB = 206
    XR = 207


class SDESItemType(IntEnum):
    """SDES item types [RFC 3550 §6.5, §12.2]; 0 (END) only ends a chunk's list."""

    END = 0
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


_VERSION = 2
_MAX_UINT8 = 0xFF
_MAX_UINT32 = 0xFFFFFFFF
_MAX_UINT64 = (1 << 64) - 1
_MAX_COUNT = 31  # The 5-bit RC/SC field [RFC 3550 §6.4.1].
_MAX_PACKET_SIZE = (0xFFFF + 1) * 4  # The 16-bit length counts words minus one.
_CUMULATIVE_LOST_MAX = 0x7FFFFF  # 24-bit signed [RFC 3550 §6.4.1, Appendix A.3].
_CUMULATIVE_LOST_MIN = -0x800000

_PADDING_BIT = 0x20
_COUNT_MASK = 0x1F

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packets, octets.
_REPORT_BLOCK = struct.Struct("!IIIIII")

#: Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET = 2_208_988_800


# ---------------------------------------------------------------------------
# NTP timestamps [RFC 3550 §4]
# ---------------------------------------------------------------------------


def ntp_from_unix(seconds: float) -> int:
    """Return the 64-bit NTP timestamp of a Unix time [RFC 3550 §4].

    The upper 32 bits count whole seconds since 1900, the lower 32 bits the
    fraction. The result is taken modulo 2**64, so era 1 (after 2036) wraps
    as NTP does.

    Args:
        seconds: Seconds since the Unix epoch, e.g. ``time.time()``.

    Returns:
        The NTP timestamp as an unsigned 64-bit integer.
    """
    whole = math.floor(seconds)
    fraction = round((seconds - whole) * 4294967296.0)
    return (((whole + NTP_UNIX_OFFSET) << 32) + fraction) & _MAX_UINT64


def unix_from_ntp(ntp_timestamp: int) -> float:
    """Return the Unix time of a 64-bit NTP timestamp (era 0) [RFC 3550 §4]."""
    return (ntp_timestamp >> 32) - NTP_UNIX_OFFSET + (ntp_timestamp & _MAX_UINT32) / 4294967296.0


def ntp_short(ntp_timestamp: int) -> int:
    """Return the middle 32 bits of an NTP timestamp [RFC 3550 §4, §6.4.1].

    This "compact" form (16 bits of seconds, 16 of fraction) is what the LSR
    field of a report block carries, and what a round-trip time is computed in.

    Args:
        ntp_timestamp: A 64-bit NTP timestamp.

    Returns:
        The middle 32 bits, in units of 1/65536 s.
    """
    return (ntp_timestamp >> 16) & _MAX_UINT32


# ---------------------------------------------------------------------------
# Packets [RFC 3550 §6.4 - §6.6]
# ---------------------------------------------------------------------------


def _check_uint32(name: str, value: int) -> None:
    if not 0 <= value <= _MAX_UINT32:
        raise ValueError(f"{name} must be 0..2**32-1, got {value}")


def _check_count(name: str, count: int) -> None:
    if count > _MAX_COUNT:
        raise ValueError(f"at most 31 {name} fit in one RTCP packet, got {count}")


def _check_words(name: str, data: bytes) -> None:
    if len(data) % 4:
        raise ValueError(f"{name} must be a multiple of 4 octets, got {len(data)}")


def _frame(count: int, packet_type: int, body: bytes) -> bytes:
    """Put the common header in front of a word-aligned ``body`` [RFC 3550 §6.4.1]."""
    size = 4 + len(body)
    if size > _MAX_PACKET_SIZE:
        raise ValueError(f"an RTCP packet holds at most {_MAX_PACKET_SIZE} octets, got {size}")
    return _HEADER.pack((_VERSION << 6) | count, packet_type, size // 4 - 1) + body


@dataclass(slots=True, frozen=True, kw_only=True)
class ReportBlock:
    """Reception statistics about one source, inside an SR or RR [RFC 3550 §6.4.1].

    Attributes:
        ssrc: The source this block reports on.
        fraction_lost: Packets lost since the previous report, as a fixed
            point fraction of 256 (8 bits).
        cumulative_lost: Packets lost since reception began; 24-bit *signed*,
            negative when duplicates outnumber losses [RFC 3550 §6.4.1].
        highest_sequence: The extended highest sequence number received:
            cycles in the upper 16 bits, the sequence number in the lower.
        jitter: Interarrival jitter in RTP timestamp units [RFC 3550 §6.4.1].
        last_sr: LSR, the middle 32 bits of the NTP timestamp of the last
            SR received from the source; 0 when none was.
        delay_since_last_sr: DLSR, the delay from receiving that SR to
            sending this block, in 1/65536 s; 0 when no SR was received.

    Raises:
        ValueError: A field is out of its wire range.
    """

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    last_sr: int = 0
    delay_since_last_sr: int = 0

    def __post_init__(self) -> None:
        _check_uint32("ssrc", self.ssrc)
        if not 0 <= self.fraction_lost <= _MAX_UINT8:
            raise ValueError(f"fraction_lost must be 0..255, got {self.fraction_lost}")
        if not _CUMULATIVE_LOST_MIN <= self.cumulative_lost <= _CUMULATIVE_LOST_MAX:
            raise ValueError(
                f"cumulative_lost must be -2**23..2**23-1, got {self.cumulative_lost} "
                "[RFC 3550 §6.4.1]"
            )
        _check_uint32("highest_sequence", self.highest_sequence)
        _check_uint32("jitter", self.jitter)
        _check_uint32("last_sr", self.last_sr)
        _check_uint32("delay_since_last_sr", self.delay_since_last_sr)

    def serialize(self) -> bytes:
        """Return the 24-octet block [RFC 3550 §6.4.1]."""
        return _REPORT_BLOCK.pack(
            self.ssrc,
            (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )

    __bytes__ = serialize

    @classmethod
    def _unpack(cls, raw: bytes, offset: int) -> Self:
        ssrc, lost_word, highest, jitter, last_sr, delay = _REPORT_BLOCK.unpack_from(raw, offset)
        cumulative = lost_word & 0xFFFFFF
        if cumulative > _CUMULATIVE_LOST_MAX:  # Sign-extend the 24-bit field.
            cumulative -= 0x1000000
        return cls(
            ssrc=ssrc,
            fraction_lost=lost_word >> 24,
            cumulative_lost=cumulative,
            highest_sequence=highest,
            jitter=jitter,
            last_sr=last_sr,
            delay_since_last_sr=delay,
        )


def _unpack_blocks(raw: bytes, start: int, end: int, count: int) -> tuple[ReportBlock, ...]:
    if start + count * _REPORT_BLOCK.size > end:
        raise ParseError(
            f"{count} report blocks do not fit in the {end - start} octets left [RFC 3550 §6.4.1]",
            offset=start,
        )
    return tuple(ReportBlock._unpack(raw, start + i * _REPORT_BLOCK.size) for i in range(count))


@dataclass(slots=True, frozen=True, kw_only=True)
class SenderReport:
    """An SR packet: sender information and report blocks [RFC 3550 §6.4.1].

    Attributes:
        ssrc: The sender of this report.
        ntp_timestamp: The wallclock time when the report was sent, 64-bit NTP.
        rtp_timestamp: The same instant in the sender's RTP timestamp units.
        packet_count: RTP data packets sent since starting (modulo 2**32).
        octet_count: RTP payload octets sent since starting (modulo 2**32).
        reports: Up to 31 report blocks about the sources we receive.
        extension: Profile-specific extension octets after the blocks, kept
            raw; a multiple of 4 octets.

    Raises:
        ValueError: A field is out of its wire range.
    """

    packet_type: ClassVar[int] = RTCPPacketType.SR

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        _check_uint32("ssrc", self.ssrc)
        if not 0 <= self.ntp_timestamp <= _MAX_UINT64:
            raise ValueError(f"ntp_timestamp must be 0..2**64-1, got {self.ntp_timestamp}")
        _check_uint32("rtp_timestamp", self.rtp_timestamp)
        _check_uint32("packet_count", self.packet_count)
        _check_uint32("octet_count", self.octet_count)
        _check_count("report blocks", len(self.reports))
        _check_words("extension", self.extension)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one SR packet that fills ``data`` exactly.

        Raises:
            ParseError: ``data`` is not exactly one well-formed SR.
        """
        return _parse_single(cls, data)

    def serialize(self) -> bytes:
        """Return the packet as it goes on the wire [RFC 3550 §6.4.1]."""
        body = b"".join(
            [
                _SENDER_INFO.pack(
                    self.ssrc,
                    self.ntp_timestamp,
                    self.rtp_timestamp,
                    self.packet_count,
                    self.octet_count,
                ),
                *(block.serialize() for block in self.reports),
                self.extension,
            ]
        )
        return _frame(len(self.reports), self.packet_type, body)

    __bytes__ = serialize

    @classmethod
    def _from_body(cls, count: int, raw: bytes, start: int, end: int) -> Self:
        if end - start < _SENDER_INFO.size:
            raise ParseError(
                f"SR body of {end - start} octets is shorter than the 24-octet sender info "
                "[RFC 3550 §6.4.1]",
                offset=start,
            )
        ssrc, ntp, rtp_timestamp, packets, octets = _SENDER_INFO.unpack_from(raw, start)
        blocks_start = start + _SENDER_INFO.size
        reports = _unpack_blocks(raw, blocks_start, end, count)
        return cls(
            ssrc=ssrc,
            ntp_timestamp=ntp,
            rtp_timestamp=rtp_timestamp,
            packet_count=packets,
            octet_count=octets,
            reports=reports,
            extension=raw[blocks_start + count * _REPORT_BLOCK.size : end],
        )


@dataclass(slots=True, frozen=True, kw_only=True)
class ReceiverReport:
    """An RR packet: report blocks from a participant that did not send [RFC 3550 §6.4.2].

    Attributes:
        ssrc: The sender of this report.
        reports: Up to 31 report blocks; none is valid (an empty RR heads a
            compound when there is nothing to report [RFC 3550 §6.1]).
        extension: Profile-specific extension octets, kept raw; a multiple
            of 4 octets.

    Raises:
        ValueError: A field is out of its wire range.
    """

    packet_type: ClassVar[int] = RTCPPacketType.RR

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        _check_uint32("ssrc", self.ssrc)
        _check_count("report blocks", len(self.reports))
        _check_words("extension", self.extension)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one RR packet that fills ``data`` exactly.

        Raises:
            ParseError: ``data`` is not exactly one well-formed RR.
        """
        return _parse_single(cls, data)

    def serialize(self) -> bytes:
        """Return the packet as it goes on the wire [RFC 3550 §6.4.2]."""
        body = b"".join(
            [
                _SSRC.pack(self.ssrc),
                *(block.serialize() for block in self.reports),
                self.extension,
            ]
        )
        return _frame(len(self.reports), self.packet_type, body)

    __bytes__ = serialize

    @classmethod
    def _from_body(cls, count: int, raw: bytes, start: int, end: int) -> Self:
        if end - start < _SSRC.size:
            raise ParseError("RR body has no SSRC [RFC 3550 §6.4.2]", offset=start)
        (ssrc,) = _SSRC.unpack_from(raw, start)
        blocks_start = start + _SSRC.size
        reports = _unpack_blocks(raw, blocks_start, end, count)
        return cls(
            ssrc=ssrc,
            reports=reports,
            extension=raw[blocks_start + count * _REPORT_BLOCK.size : end],
        )


@dataclass(slots=True, frozen=True)
class SDESItem:
    """One SDES item: type, then up to 255 octets of value [RFC 3550 §6.5].

    Attributes:
        item_type: 1..255; see :class:`SDESItemType`. 0 is not an item: it
            ends the list.
        value: The raw octets (UTF-8 text for the items RFC 3550 defines;
            PRIV keeps its prefix-length structure inside).

    Raises:
        ValueError: ``item_type`` is not 1..255, or ``value`` is too long.
    """

    item_type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.item_type <= _MAX_UINT8:
            raise ValueError(f"SDES item_type must be 1..255, got {self.item_type}")
        if len(self.value) > _MAX_UINT8:
            raise ValueError(f"an SDES item holds at most 255 octets, got {len(self.value)}")

    @classmethod
    def from_text(cls, item_type: int, text: str) -> Self:
        """Make an item from text, encoded as UTF-8 [RFC 3550 §6.5]."""
        return cls(item_type, text.encode("utf-8"))

    @property
    def text(self) -> str:
        """The value decoded as UTF-8; undecodable octets become U+FFFD."""
        return self.value.decode("utf-8", errors="replace")


@dataclass(slots=True, frozen=True)
class SDESChunk:
    """One SDES chunk: a source and its items [RFC 3550 §6.5].

    Attributes:
        ssrc: The SSRC or CSRC the items describe.
        items: The items, in wire order.

    Raises:
        ValueError: ``ssrc`` is out of range.
    """

    ssrc: int
    items: tuple[SDESItem, ...] = ()

    def __post_init__(self) -> None:
        _check_uint32("ssrc", self.ssrc)

    @property
    def cname(self) -> str | None:
        """The first CNAME item's text [RFC 3550 §6.5.1], or None."""
        for item in self.items:
            if item.item_type == SDESItemType.CNAME:
                return item.text
        return None

    def serialize(self) -> bytes:
        """Return the chunk, ended by 1..4 null octets at a 32-bit boundary [RFC 3550 §6.5]."""
        parts = [_SSRC.pack(self.ssrc)]
        size = 4
        for item in self.items:
            parts.append(bytes((item.item_type, len(item.value))))
            parts.append(item.value)
            size += 2 + len(item.value)
        # At least one null octet (the END "type"), then nulls to the boundary.
        parts.append(bytes(4 - size % 4))
        return b"".join(parts)


@dataclass(slots=True, frozen=True, kw_only=True)
class SourceDescription:
    """An SDES packet: up to 31 chunks [RFC 3550 §6.5].

    Attributes:
        chunks: The chunks, in wire order.

    Raises:
        ValueError: More than 31 chunks.
    """

    packet_type: ClassVar[int] = RTCPPacketType.SDES

    chunks: tuple[SDESChunk, ...] = ()

    def __post_init__(self) -> None:
        _check_count("SDES chunks", len(self.chunks))

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one SDES packet that fills ``data`` exactly.

        Raises:
            ParseError: ``data`` is not exactly one well-formed SDES packet.
        """
        return _parse_single(cls, data)

    def serialize(self) -> bytes:
        """Return the packet as it goes on the wire [RFC 3550 §6.5]."""
        body = b"".join(chunk.serialize() for chunk in self.chunks)
        return _frame(len(self.chunks), self.packet_type, body)

    __bytes__ = serialize

    @classmethod
    def _from_body(cls, count: int, raw: bytes, start: int, end: int) -> Self:
        chunks: list[SDESChunk] = []
        position = start
        for _ in range(count):
            if position + 4 > end:
                raise ParseError(
                    "SDES chunk has no room for its SSRC [RFC 3550 §6.5]", offset=start
                )
            (ssrc,) = _SSRC.unpack_from(raw, position)
            position += 4
            items: list[SDESItem] = []
            while True:
                if position >= end:
                    raise ParseError(
                        "SDES item list is not ended by a null octet [RFC 3550 §6.5]",
                        offset=position,
                    )
                item_type = raw[position]
                if item_type == SDESItemType.END:
                    # Skip the null and the nulls up to the next 32-bit boundary;
                    # the body starts on one, so positions relative to it count.
                    position += 4 - (position - start) % 4
                    break
                if position + 2 > end or position + 2 + raw[position + 1] > end:
                    raise ParseError(
                        "SDES item runs past the end of its packet [RFC 3550 §6.5]",
                        offset=position,
                    )
                length = raw[position + 1]
                items.append(SDESItem(item_type, raw[position + 2 : position + 2 + length]))
                position += 2 + length
            chunks.append(SDESChunk(ssrc, tuple(items)))
        if position != end:
            raise ParseError(
                f"{end - position} octets follow the {count} SDES chunks [RFC 3550 §6.5]",
                offset=position,
            )
        return cls(chunks=tuple(chunks))


@dataclass(slots=True, frozen=True, kw_only=True)
class Bye:
    """A BYE packet: sources leaving, with an optional reason [RFC 3550 §6.6].

    Attributes:
        sources: Up to 31 SSRC/CSRC identifiers.
        reason: Why they leave, or None. It is UTF-8 on the wire, at most 255
            octets; octets that are not UTF-8 are kept as surrogate escapes,
            so a parsed packet serializes back to the same bytes.

    Raises:
        ValueError: A field is out of its wire range.
    """

    packet_type: ClassVar[int] = RTCPPacketType.BYE

    sources: tuple[int, ...] = ()
    reason: str | None = None

    def __post_init__(self) -> None:
        _check_count("BYE sources", len(self.sources))
        for source in self.sources:
            _check_uint32("sources", source)
        if self.reason is not None and len(self._reason_octets()) > _MAX_UINT8:
            raise ValueError("a BYE reason holds at most 255 octets [RFC 3550 §6.6]")

    def _reason_octets(self) -> bytes:
        return b"" if self.reason is None else self.reason.encode("utf-8", "surrogateescape")

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one BYE packet that fills ``data`` exactly.

        Raises:
            ParseError: ``data`` is not exactly one well-formed BYE.
        """
        return _parse_single(cls, data)

    def serialize(self) -> bytes:
        """Return the packet as it goes on the wire [RFC 3550 §6.6]."""
        parts = [_SSRC.pack(source) for source in self.sources]
        if self.reason is not None:
            reason = self._reason_octets()
            parts.append(bytes((len(reason),)))
            parts.append(reason)
            parts.append(bytes(-(1 + len(reason)) % 4))  # Null padding to 32 bits.
        return _frame(len(self.sources), self.packet_type, b"".join(parts))

    __bytes__ = serialize

    @classmethod
    def _from_body(cls, count: int, raw: bytes, start: int, end: int) -> Self:
        position = start + 4 * count
        if position > end:
            raise ParseError(
                f"{count} BYE sources do not fit in {end - start} octets [RFC 3550 §6.6]",
                offset=start,
            )
        sources = struct.unpack_from(f"!{count}I", raw, start)
        reason: str | None = None
        if position < end:
            length = raw[position]
            reason_end = position + 1 + length
            if reason_end > end:
                raise ParseError(
                    "BYE reason runs past the end of its packet [RFC 3550 §6.6]",
                    offset=position,
                )
            if end - reason_end >= 4:
                raise ParseError(
                    f"{end - reason_end} octets follow the BYE reason [RFC 3550 §6.6]",
                    offset=reason_end,
                )
            reason = raw[position + 1 : reason_end].decode("utf-8", "surrogateescape")
        return cls(sources=sources, reason=reason)


@dataclass(slots=True, frozen=True, kw_only=True)
class RawRTCPPacket:
    """An RTCP packet this module does not parse, kept whole (APP, RTPFB, PSFB, XR, ...).

    Attributes:
        packet_type: The PT octet.
        subtype: The 5 bits after P: the subtype of APP [RFC 3550 §6.7], FMT
            of feedback [RFC 4585 §6.1], reserved in XR [RFC 3611 §2].
        payload: Everything after the 4-octet header, without padding; a
            multiple of 4 octets.

    Raises:
        ValueError: A field is out of its wire range.
    """

    packet_type: int
    subtype: int = 0
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.packet_type <= _MAX_UINT8:
            raise ValueError(f"packet_type must be 0..255, got {self.packet_type}")
        if not 0 <= self.subtype <= _COUNT_MASK:
            raise ValueError(f"subtype must be 0..31, got {self.subtype}")
        _check_words("payload", self.payload)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one packet of any type as raw, filling ``data`` exactly.

        Raises:
            ParseError: ``data`` is not exactly one well-framed RTCP packet.
        """
        raw = bytes(data)
        start, end, count, packet_type, body_end = _frame_at(raw, 0, strict=False, first=True)
        if end != len(raw):
            raise ParseError(
                f"{len(raw) - end} octets follow the {end}-octet packet [RFC 3550 Appendix A.2]",
                offset=end,
            )
        return cls(packet_type=packet_type, subtype=count, payload=raw[start:body_end])

    def serialize(self) -> bytes:
        """Return the packet as it goes on the wire [RFC 3550 §6.4.1]."""
        return _frame(self.subtype, self.packet_type, self.payload)

    __bytes__ = serialize


#: Any RTCP packet :func:`parse_compound` returns.
RTCPPacket: TypeAlias = SenderReport | ReceiverReport | SourceDescription | Bye | RawRTCPPacket

_Parsed = TypeVar("_Parsed", bound=SenderReport | ReceiverReport | SourceDescription | Bye)

_PARSED_TYPES: dict[int, type[SenderReport | ReceiverReport | SourceDescription | Bye]] = {
    RTCPPacketType.SR: SenderReport,
    RTCPPacketType.RR: ReceiverReport,
    RTCPPacketType.SDES: SourceDescription,
    RTCPPacketType.BYE: Bye,
}


def _frame_at(
    raw: bytes, offset: int, *, strict: bool, first: bool
) -> tuple[int, int, int, int, int]:
    """Check the header at ``offset`` [RFC 3550 §6.4.1, Appendix A.2].

    Returns:
        ``(body start, packet end, count, packet type, body end)``; the body
        end excludes the padding.
    """
    size = len(raw)
    if size - offset < _HEADER.size:
        raise ParseError(
            f"{size - offset} octets left, too few for an RTCP header [RFC 3550 Appendix A.2]",
            offset=offset,
        )
    octet, packet_type, length = _HEADER.unpack_from(raw, offset)
    if octet >> 6 != _VERSION:
        raise ParseError(
            f"RTCP version is {octet >> 6}, not 2 [RFC 3550 Appendix A.2]", offset=offset
        )
    if strict and first and packet_type not in (RTCPPacketType.SR, RTCPPacketType.RR):
        raise ParseError(
            f"compound packet starts with type {packet_type}, not SR or RR [RFC 3550 Appendix A.2]",
            offset=offset + 1,
        )
    start = offset + _HEADER.size
    end = offset + (length + 1) * 4
    if end > size:
        raise ParseError(
            f"RTCP length of {end - offset} octets runs past the end of the "
            f"{size}-octet datagram [RFC 3550 Appendix A.2]",
            offset=offset + 2,
        )
    body_end = end
    if octet & _PADDING_BIT:
        if strict and end != size:
            raise ParseError(
                "only the last packet of a compound may be padded [RFC 3550 Appendix A.2]",
                offset=offset,
            )
        padding = raw[end - 1]
        if padding == 0 or padding % 4 or padding > end - start:
            raise ParseError(
                f"padding count {padding} is not a non-zero multiple of 4 within the "
                f"{end - start}-octet body [RFC 3550 §6.4.1]",
                offset=end - 1,
            )
        body_end = end - padding
    return start, end, octet & _COUNT_MASK, packet_type, body_end


def _parse_at(raw: bytes, offset: int, *, strict: bool, first: bool) -> tuple[RTCPPacket, int]:
    start, end, count, packet_type, body_end = _frame_at(raw, offset, strict=strict, first=first)
    parser = _PARSED_TYPES.get(packet_type)
    packet: RTCPPacket
    if parser is None:
        packet = RawRTCPPacket(packet_type=packet_type, subtype=count, payload=raw[start:body_end])
    else:
        packet = parser._from_body(count, raw, start, body_end)
    return packet, end


def parse_compound(
    data: bytes | bytearray | memoryview, *, strict: bool = False
) -> list[RTCPPacket]:
    """Parse a compound RTCP packet, or a lone packet, from one datagram [RFC 3550 §6.1].

    Args:
        data: The whole UDP payload (after SRTCP decryption, if any).
        strict: Also require the first packet to be an SR or RR and only the
            last to be padded, as [RFC 3550 Appendix A.2] does. The default
            accepts packets sent alone (a lone BYE or SDES, reduced-size RTCP
            [RFC 5506]) and padding anywhere.

    Returns:
        The packets in wire order; types other than SR, RR, SDES and BYE as
        :class:`RawRTCPPacket`.

    Raises:
        ParseError: The datagram is empty, a version is not 2, the lengths do
            not add up to the datagram, a padding count is bad, or a packet's
            body does not match its type [RFC 3550 Appendix A.2]. Nothing else
            is raised, whatever the bytes.
    """
    raw = bytes(data)
    if not raw:
        raise ParseError("empty RTCP datagram [RFC 3550 Appendix A.2]", offset=0)
    packets: list[RTCPPacket] = []
    offset = 0
    while offset < len(raw):
        packet, offset = _parse_at(raw, offset, strict=strict, first=not packets)
        packets.append(packet)
    return packets


def _parse_single(cls: type[_Parsed], data: bytes | bytearray | memoryview) -> _Parsed:
    raw = bytes(data)
    packet, end = _parse_at(raw, 0, strict=False, first=True)
    if end != len(raw):
        raise ParseError(
            f"{len(raw) - end} octets follow the {end}-octet packet [RFC 3550 Appendix A.2]",
            offset=end,
        )
    if not isinstance(packet, cls):
        raise ParseError(
            f"RTCP packet type {raw[1]} is not {cls.__name__} ({cls.packet_type})", offset=1
        )
    return packet


def serialize_compound(packets: Iterable[RTCPPacket]) -> bytes:
    """Join packets into one compound datagram [RFC 3550 §6.1].

    The order is the caller's: RFC 3550 wants an SR or RR first, then an SDES
    with a CNAME, and a BYE last; reduced-size RTCP [RFC 5506] sends other
    packets alone. No padding is added.

    Raises:
        ValueError: ``packets`` is empty, or one is out of range.
    """
    wire = b"".join(packet.serialize() for packet in packets)
    if not wire:
        raise ValueError("a compound RTCP packet holds at least one packet")
    return wire


# ---------------------------------------------------------------------------
# Reception and sending statistics [RFC 3550 §6.4, Appendix A.1, A.3, A.8]
# ---------------------------------------------------------------------------

#: Packets in sequence before a new source is valid [RFC 3550 Appendix A.1].
MIN_SEQUENTIAL = 2
#: The largest forward jump still taken as loss, not a restart [RFC 3550 Appendix A.1].
MAX_DROPOUT = 3000
#: The largest backward step taken as reordering or a duplicate [RFC 3550 Appendix A.1].
MAX_MISORDER = 100

_SEQUENCE_MODULUS = 1 << 16
_SEQUENCE_MASK = _SEQUENCE_MODULUS - 1
_JITTER_GAIN = 1 / 16  # [RFC 3550 §6.4.1]


class ReceiverStatistics:
    """What we know about one remote source, for our report blocks [RFC 3550 §6.4].

    Sequence numbers are validated as in [RFC 3550 Appendix A.1]: a new source
    is on probation until ``min_sequential`` packets arrive in sequence (the
    first of them is not counted); a forward jump below ``max_dropout`` is
    loss; a step back of at most ``max_misorder`` is a reordered or duplicate
    packet (and counted as received, so duplicates can make the loss
    negative); anything else is a jump, and a second packet that continues
    the jump restarts the statistics (the sender restarted). Wraps of the
    16-bit sequence number count ``cycles``.

    One deliberate difference from the C code: the probation test "next in
    sequence" is taken modulo 2**16, so a source whose first packets are
    65535, 0 is not put back on probation.

    Interarrival jitter follows [RFC 3550 §6.4.1, Appendix A.8] in RTP
    timestamp units: arrival times are converted with ``clock_rate``. It is
    updated for every counted packet; a restart forgets the previous packet's
    transit time (the timestamps start anew) but keeps the estimate.

    Args:
        ssrc: The source's SSRC.
        clock_rate: Its RTP timestamp clock rate in Hz [RFC 3550 §5.1].
        min_sequential: Packets in sequence needed to validate the source.
        max_dropout: See :data:`MAX_DROPOUT`.
        max_misorder: See :data:`MAX_MISORDER`.

    Attributes:
        ssrc: The source's SSRC.
        clock_rate: Its RTP clock rate.
        probation: Packets in sequence still needed; 0 once valid.
        base_sequence: The first counted sequence number.
        max_sequence: The highest sequence number seen (16-bit).
        cycles: Sequence number wraps times 2**16.
        received: Packets counted (duplicates included).
        jitter: The interarrival jitter estimate, in timestamp units.
        restarts: Times the statistics restarted after a jump.

    Raises:
        ValueError: A setting is out of range.

    Example:
        >>> stats = ReceiverStatistics(ssrc=7, clock_rate=8000)
        >>> [stats.packet_received(seq, seq * 160, seq * 0.02) for seq in (1, 2, 4)]
        [False, True, True]
        >>> stats.expected, stats.lost
        (3, 1)
    """

    __slots__ = (
        "_bad_sequence",
        "_expected_prior",
        "_heard",
        "_last_arrival",
        "_last_sr",
        "_last_sr_arrival",
        "_last_timestamp",
        "_received_prior",
        "base_sequence",
        "clock_rate",
        "cycles",
        "jitter",
        "max_dropout",
        "max_misorder",
        "max_sequence",
        "min_sequential",
        "probation",
        "received",
        "restarts",
        "ssrc",
    )

    def __init__(
        self,
        ssrc: int,
        clock_rate: int,
        *,
        min_sequential: int = MIN_SEQUENTIAL,
        max_dropout: int = MAX_DROPOUT,
        max_misorder: int = MAX_MISORDER,
    ) -> None:
        _check_uint32("ssrc", ssrc)
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        if min_sequential < 1:
            raise ValueError(f"min_sequential must be at least 1, got {min_sequential}")
        if max_misorder < 0 or not 0 < max_dropout <= _SEQUENCE_MODULUS - max_misorder:
            raise ValueError(
                f"need 0 < max_dropout <= 65536 - max_misorder, max_misorder >= 0; got "
                f"{max_dropout} and {max_misorder}"
            )
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.min_sequential = min_sequential
        self.max_dropout = max_dropout
        self.max_misorder = max_misorder
        self.probation = min_sequential
        self._heard = False
        self.base_sequence = 0
        self.max_sequence = 0
        self.cycles = 0
        self.received = 0
        self._bad_sequence = _SEQUENCE_MODULUS + 1
        self._expected_prior = 0
        self._received_prior = 0
        self.jitter = 0.0
        self._last_arrival: float | None = None
        self._last_timestamp = 0
        self._last_sr = 0
        self._last_sr_arrival: float | None = None
        self.restarts = 0

    def _init_sequence(self, sequence_number: int) -> None:
        """``init_seq`` of [RFC 3550 Appendix A.1]."""
        self.base_sequence = sequence_number
        self.max_sequence = sequence_number
        self._bad_sequence = _SEQUENCE_MODULUS + 1  # Matches no sequence number.
        self.cycles = 0
        self.received = 0
        self._received_prior = 0
        self._expected_prior = 0

    @property
    def valid(self) -> bool:
        """True once the source has passed probation [RFC 3550 Appendix A.1]."""
        return self._heard and self.probation == 0

    @property
    def extended_highest_sequence(self) -> int:
        """Cycles plus the highest sequence number [RFC 3550 Appendix A.3]."""
        return self.cycles + self.max_sequence

    @property
    def expected(self) -> int:
        """Packets expected since the base sequence number [RFC 3550 Appendix A.3]."""
        if not self.valid:
            return 0
        return self.extended_highest_sequence - self.base_sequence + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost, unclamped; negative with duplicates [RFC 3550 Appendix A.3]."""
        return self.expected - self.received

    @property
    def jitter_seconds(self) -> float:
        """The interarrival jitter in seconds."""
        return self.jitter / self.clock_rate

    def packet_received(self, sequence_number: int, timestamp: int, arrival: float) -> bool:
        """Account for one RTP packet from this source [RFC 3550 Appendix A.1, A.8].

        Args:
            sequence_number: Its 16-bit sequence number.
            timestamp: Its 32-bit RTP timestamp.
            arrival: When it arrived, in seconds on any steady clock.

        Returns:
            True when the packet counts (the source is valid and the packet
            is in order, reordered, a duplicate, or the one that confirms a
            restart); False during probation and for the first packet of a
            jump, which a caller may choose not to play.

        Raises:
            ValueError: ``sequence_number`` is not 16-bit.
        """
        if sequence_number == self.max_sequence + 1 and not self.probation and self._heard:
            # The next packet, no wrap (what _update_sequence does for it): this runs per packet.
            self.max_sequence = sequence_number
            self.received += 1
        else:
            if not 0 <= sequence_number <= _SEQUENCE_MASK:
                raise ValueError(f"sequence_number must be 0..65535, got {sequence_number}")
            if not self._heard:
                self._heard = True
                self._init_sequence(sequence_number)
                self.max_sequence = (sequence_number - 1) & _SEQUENCE_MASK
                self.probation = self.min_sequential
            if not self._update_sequence(sequence_number):
                return False
        last_arrival = self._last_arrival
        if last_arrival is not None:
            # D(i, j) = (Rj - Ri) - (Sj - Si), in timestamp units [RFC 3550 §6.4.1]; the
            # timestamps' distance as timestamp_distance gives it, inline.
            difference = (arrival - last_arrival) * self.clock_rate - (
                ((timestamp - self._last_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            )
            self.jitter += (abs(difference) - self.jitter) * _JITTER_GAIN
        self._last_arrival = arrival
        self._last_timestamp = timestamp
        return True

    def _update_sequence(self, sequence_number: int) -> bool:
        """``update_seq`` of [RFC 3550 Appendix A.1]."""
        step = (sequence_number - self.max_sequence) & _SEQUENCE_MASK
        if self.probation:
            if sequence_number == (self.max_sequence + 1) & _SEQUENCE_MASK:
                self.probation -= 1
                self.max_sequence = sequence_number
                if self.probation == 0:
                    self._init_sequence(sequence_number)
                    self.received += 1
                    return True
            else:
                self.probation = self.min_sequential - 1
                self.max_sequence = sequence_number
            return False
        if step < self.max_dropout:
            if sequence_number < self.max_sequence:  # Wrapped: one more cycle.
                self.cycles += _SEQUENCE_MODULUS
            self.max_sequence = sequence_number
        elif step <= _SEQUENCE_MODULUS - self.max_misorder:
            if sequence_number != self._bad_sequence:
                self._bad_sequence = (sequence_number + 1) & _SEQUENCE_MASK
                return False
            # Two packets in sequence after a jump: the sender restarted.
            self._init_sequence(sequence_number)
            self._last_arrival = None
            self.restarts += 1
        # Otherwise a duplicate or reordered packet: counted, no state change.
        self.received += 1
        return True

    def sender_report_received(self, report: SenderReport, arrival: float) -> None:
        """Remember an SR from this source, for LSR and DLSR [RFC 3550 §6.4.1].

        Args:
            report: The SR.
            arrival: When it arrived, on the clock later passed to
                :meth:`report_block`.
        """
        self._last_sr = ntp_short(report.ntp_timestamp)
        self._last_sr_arrival = arrival

    def report_block(self, now: float) -> ReportBlock | None:
        """Make the report block about this source and start a new interval [RFC 3550 Appendix A.3].

        The fraction lost covers the packets since the previous call; an
        interval where every packet was lost (256/256, which the C code of
        Appendix A.3 lets overflow to 0) is sent as 255. The cumulative loss
        is clamped to 24-bit signed.

        Args:
            now: When the report is sent, on the clock of
                :meth:`sender_report_received`.

        Returns:
            The block, or None while the source is on probation.
        """
        if not self.valid:
            return None
        expected = self.expected
        lost = min(max(expected - self.received, _CUMULATIVE_LOST_MIN), _CUMULATIVE_LOST_MAX)
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min((lost_interval << 8) // expected_interval, _MAX_UINT8)
        delay = 0
        if self._last_sr_arrival is not None:
            delay = min(max(round((now - self._last_sr_arrival) * 65536), 0), _MAX_UINT32)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=lost,
            highest_sequence=self.extended_highest_sequence & _MAX_UINT32,
            jitter=min(int(self.jitter), _MAX_UINT32),
            last_sr=self._last_sr,
            delay_since_last_sr=delay,
        )


class SenderStatistics:
    """Counters of what we sent, for our SRs [RFC 3550 §6.4.1].

    Args:
        ssrc: Our SSRC.
        clock_rate: The RTP clock rate of what we send.

    Attributes:
        ssrc: Our SSRC.
        clock_rate: The RTP clock rate.
        packet_count: RTP packets sent (the SR carries it modulo 2**32).
        octet_count: RTP payload octets sent, without headers or padding.

    Raises:
        ValueError: A setting is out of range.
    """

    __slots__ = (
        "_last_time",
        "_last_timestamp",
        "clock_rate",
        "octet_count",
        "packet_count",
        "ssrc",
    )

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        _check_uint32("ssrc", ssrc)
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.packet_count = 0
        self.octet_count = 0
        self._last_timestamp = 0
        self._last_time: float | None = None

    def packet_sent(self, timestamp: int, payload_size: int, time: float) -> None:
        """Count one sent RTP packet.

        Args:
            timestamp: Its RTP timestamp.
            payload_size: Its payload octets (no header, no padding).
            time: When it was sent, on the clock later passed to
                :meth:`sender_report`.

        Raises:
            ValueError: ``timestamp`` is not 32-bit or ``payload_size`` is negative.
        """
        _check_uint32("timestamp", timestamp)
        if payload_size < 0:
            raise ValueError(f"payload_size must not be negative, got {payload_size}")
        self.packet_count += 1
        self.octet_count += payload_size
        self._last_timestamp = timestamp
        self._last_time = time

    def sender_report(
        self,
        now: float,
        *,
        wall_clock: float | None = None,
        reports: Iterable[ReportBlock] = (),
    ) -> SenderReport:
        """Make an SR for the instant ``now`` [RFC 3550 §6.4.1].

        The RTP timestamp is the last sent packet's, moved on by the time
        since it was sent, so it matches the NTP timestamp as §6.4.1 asks.

        Args:
            now: When the SR is sent, on the clock of :meth:`packet_sent`.
            wall_clock: The same instant as Unix time, for the NTP timestamp;
                defaults to ``now`` (when both clocks are ``time.time()``).
            reports: Report blocks about the sources we receive.

        Returns:
            The SR.

        Raises:
            ValueError: No packet was sent yet (send an RR instead
                [RFC 3550 §6.4]).
        """
        if self._last_time is None:
            raise ValueError("no RTP packet sent yet: report with a ReceiverReport")
        elapsed = round((now - self._last_time) * self.clock_rate)
        return SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=ntp_from_unix(now if wall_clock is None else wall_clock),
            rtp_timestamp=(self._last_timestamp + elapsed) & _MAX_UINT32,
            packet_count=self.packet_count & _MAX_UINT32,
            octet_count=self.octet_count & _MAX_UINT32,
            reports=tuple(reports),
        )


def round_trip_time(block: ReportBlock, arrival_ntp: int) -> float | None:
    """Return the round-trip time a report block about us implies [RFC 3550 §6.4.1].

    ``RTT = A - LSR - DLSR`` in the 32-bit NTP short format, where ``A`` is
    when the block arrived. Resolution is 1/65536 s.

    Args:
        block: A report block whose ``ssrc`` is ours.
        arrival_ntp: When it arrived, as a 64-bit NTP timestamp
            (``ntp_from_unix(time.time())``).

    Returns:
        The RTT in seconds; None when the peer has received no SR from us
        (LSR 0); 0.0 when the difference is negative (clock steps, or
        rounding on a very short path).
    """
    if block.last_sr == 0:
        return None
    units = (ntp_short(arrival_ntp) - block.last_sr - block.delay_since_last_sr) & _MAX_UINT32
    if units > 0x7FFFFFFF:
        return 0.0
    return units / 65536


# ---------------------------------------------------------------------------
# Report interval [RFC 3550 §6.3, Appendix A.7]
# ---------------------------------------------------------------------------

_SENDER_BANDWIDTH_FRACTION = 0.25
_RECEIVER_BANDWIDTH_FRACTION = 1 - _SENDER_BANDWIDTH_FRACTION
#: e - 3/2: undoes the shortening that timer reconsideration brings [RFC 3550 §6.3.1].
_COMPENSATION = math.e - 1.5


def rtcp_interval(
    members: int,
    senders: int,
    rtcp_bw: float,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    *,
    minimum: float = 5.0,
    rng: random.Random,
) -> float:
    """Return a randomised interval until our next RTCP packet [RFC 3550 §6.3.1, Appendix A.7].

    The deterministic interval is ``avg_rtcp_size * n / bandwidth``, at least
    ``minimum`` (halved before our first packet). When senders are at most a
    quarter of the members, senders share 25 % of ``rtcp_bw`` among
    ``senders`` and receivers 75 % among ``members - senders``; otherwise all
    share it. The result is that times a uniform factor in [0.5, 1.5),
    divided by e - 3/2.

    Args:
        members: Session members, us included.
        senders: Members that sent RTP recently, us included when we did.
        rtcp_bw: The RTCP bandwidth in octets per second (5 % of the session
            bandwidth [RFC 3550 §6.2]).
        we_sent: Whether we sent RTP in the last two intervals.
        avg_rtcp_size: The average compound RTCP size in octets, lower-layer
            headers included [RFC 3550 §6.3.3].
        initial: True before we have sent any RTCP packet.
        minimum: The minimum interval, 5 s in RFC 3550; smaller in tests.
        rng: The source of randomness (a seeded one makes it repeatable).

    Returns:
        The interval in seconds.

    Raises:
        ValueError: An argument is out of range.
    """
    if members < 1 or not 0 <= senders <= members:
        raise ValueError(f"need members >= 1 and 0 <= senders <= members, got {members}, {senders}")
    if not rtcp_bw > 0 or not avg_rtcp_size > 0 or not minimum >= 0:
        raise ValueError("rtcp_bw and avg_rtcp_size must be positive, minimum not negative")
    minimum_interval = minimum / 2 if initial else minimum
    bandwidth = rtcp_bw
    count = members
    if senders <= members * _SENDER_BANDWIDTH_FRACTION:
        if we_sent:
            bandwidth *= _SENDER_BANDWIDTH_FRACTION
            count = senders
        else:
            bandwidth *= _RECEIVER_BANDWIDTH_FRACTION
            count -= senders
    interval = max(avg_rtcp_size * count / bandwidth, minimum_interval)
    return interval * (rng.random() + 0.5) / _COMPENSATION


class RTCPScheduler:
    """When to send RTCP, with timer reconsideration [RFC 3550 §6.3].

    Sans-I/O: the caller arms a timer for :attr:`next_due`, calls
    :meth:`timer_expired` when it fires, and sends a compound packet when
    that says so, then calls :meth:`packet_sent`. Received compound packets
    go to :meth:`packet_received`. ``members``, ``senders`` and ``we_sent``
    are the caller's to keep up to date [RFC 3550 §6.3.3, §6.3.8]. BYE
    reconsideration and reverse reconsideration (§6.3.4, §6.3.7) are left
    out: they matter for large sessions, not for a two-party call.

    Args:
        rtcp_bandwidth: RTCP bandwidth in octets per second.
        now: The current time, in seconds on any steady clock.
        rng: The source of randomness for the intervals.
        minimum: The minimum interval (5 s in RFC 3550).
        initial_packet_size: The guessed size of our first compound packet,
            lower-layer headers included [RFC 3550 §6.3.2].

    Attributes:
        members: Session members, us included.
        senders: Members that sent recently.
        we_sent: Whether we sent RTP recently.
        avg_rtcp_size: The running average packet size [RFC 3550 §6.3.3].
        initial: True until we send our first RTCP packet.
        last_sent: ``tp``, when we last sent (or the start).
        next_due: ``tn``, when the timer should next fire.
    """

    __slots__ = (
        "avg_rtcp_size",
        "initial",
        "last_sent",
        "members",
        "minimum",
        "next_due",
        "rng",
        "rtcp_bandwidth",
        "senders",
        "we_sent",
    )

    def __init__(
        self,
        *,
        rtcp_bandwidth: float,
        now: float,
        rng: random.Random,
        minimum: float = 5.0,
        initial_packet_size: float = 100.0,
    ) -> None:
        self.rtcp_bandwidth = rtcp_bandwidth
        self.rng = rng
        self.minimum = minimum
        self.members = 1
        self.senders = 0
        self.we_sent = False
        self.avg_rtcp_size = float(initial_packet_size)
        self.initial = True
        self.last_sent = now
        self.next_due = now + self.interval()

    def interval(self) -> float:
        """Draw a new interval from the current state (:func:`rtcp_interval`)."""
        return rtcp_interval(
            self.members,
            min(self.senders, self.members),
            self.rtcp_bandwidth,
            self.we_sent,
            self.avg_rtcp_size,
            self.initial,
            minimum=self.minimum,
            rng=self.rng,
        )

    def packet_received(self, size: int) -> None:
        """Fold a received compound packet's size into the average [RFC 3550 §6.3.3]."""
        self.avg_rtcp_size += (size - self.avg_rtcp_size) / 16

    def timer_expired(self, now: float) -> bool:
        """Reconsider when the timer fires [RFC 3550 §6.3.6].

        Returns:
            True when a packet should be sent now; False when the membership
            grew and the packet waits until the new :attr:`next_due`.
        """
        due = self.last_sent + self.interval()
        if due <= now:
            return True
        self.next_due = due
        return False

    def packet_sent(self, size: int, now: float) -> float:
        """Record that we sent a compound packet of ``size`` octets [RFC 3550 §6.3.6].

        Returns:
            The new :attr:`next_due`.
        """
        self.avg_rtcp_size += (size - self.avg_rtcp_size) / 16
        self.initial = False
        self.last_sent = now
        self.next_due = now + self.interval()
        return self.next_due


# ---------------------------------------------------------------------------
# Call quality: a simplified E-model [ITU-T G.107]
# ---------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class CodecImpairment:
    """E-model codec values [ITU-T G.107 §7, G.113 Appendix I].

    Attributes:
        equipment_impairment: ``Ie``, the codec's impairment with no loss.
        loss_robustness: ``Bpl``, how well it (with its PLC) bears random
            packet loss; larger is more robust.
    """

    equipment_impairment: float
    loss_robustness: float


#: Codec values by lower-case encoding name. G.711 (PCMU, PCMA): Ie 0 and
#: Bpl 25.1, the G.113 Appendix I values with the PLC of G.711 Appendix I.
#: G.722: G.113 Appendix I is narrowband and has no entry; its wideband
#: values are on the G.107.1 scale (Ro 129) and do not carry over, so G.722
#: with PLC is rated like G.711 with PLC. Opus: ITU-T has no planning
#: values; it is rated, conservatively, like the 8 kbit/s CELP codec G.729A
#: (Ie 11, Bpl 19.0 in G.113 Appendix I), a floor rather than an estimate.
CODEC_IMPAIRMENTS: Mapping[str, CodecImpairment] = MappingProxyType(
    {
        "pcmu": CodecImpairment(0.0, 25.1),
        "pcma": CodecImpairment(0.0, 25.1),
        "g722": CodecImpairment(0.0, 25.1),
        "opus": CodecImpairment(11.0, 19.0),
    }
)

_R_DEFAULT = 93.2  # Ro - Is with every G.107 default [ITU-T G.107 §7].
_DELAY_KNEE_MS = 177.3
_CODEC_DELAY_MS = 10.0


def estimate_mos(
    rtt_seconds: float,
    jitter_seconds: float,
    loss_fraction: float,
    codec: str | CodecImpairment = "PCMU",
) -> float:
    """Estimate a listening MOS from network measures with a simplified E-model [ITU-T G.107].

    Simplifications: every G.107 input other than delay and loss keeps its
    default, so ``R = 93.2 - Id - Ie_eff`` (no Is, A = 0, perfect echo
    control). The one-way delay is ``d = rtt/2 + 2 * jitter + 10 ms``
    (a jitter buffer of twice the jitter, 10 ms for coding), in ms, and
    ``Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)``, the piecewise-linear
    fit of Cole and Rosenbluth (SIGCOMM CCR 2001) to the G.107 delay terms.
    Loss is random (BurstR = 1): ``Ie_eff = Ie + (95 - Ie) Ppl / (Ppl + Bpl)``
    with Ppl in percent [ITU-T G.107 §7.4]. Then
    ``MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)``, clamped to [1, 4.5]
    [ITU-T G.107 Annex B]. The result does not rise when any measure grows.

    Args:
        rtt_seconds: Round-trip time (e.g. from :func:`round_trip_time`).
        jitter_seconds: Interarrival jitter.
        loss_fraction: Fraction of packets lost, 0..1 (``fraction_lost / 256``).
        codec: An encoding name in :data:`CODEC_IMPAIRMENTS`
            (case-insensitive), or the values themselves.

    Returns:
        The MOS, 1.0 to 4.5; about 4.4 for G.711 on a perfect network.

    Raises:
        ValueError: A measure is negative or not a number, the loss is above
            1, or the codec is unknown.
    """
    if not rtt_seconds >= 0 or not jitter_seconds >= 0 or not 0 <= loss_fraction <= 1:
        raise ValueError(
            "need rtt_seconds >= 0, jitter_seconds >= 0 and 0 <= loss_fraction <= 1, got "
            f"{rtt_seconds}, {jitter_seconds}, {loss_fraction}"
        )
    if isinstance(codec, CodecImpairment):
        impairment = codec
    else:
        try:
            impairment = CODEC_IMPAIRMENTS[codec.lower()]
        except KeyError:
            raise ValueError(
                f"no E-model values for codec {codec!r}; pass a CodecImpairment"
            ) from None
    delay_ms = rtt_seconds * 500 + jitter_seconds * 2000 + _CODEC_DELAY_MS
    delay_impairment = 0.024 * delay_ms + 0.11 * max(delay_ms - _DELAY_KNEE_MS, 0.0)
    loss_percent = loss_fraction * 100
    ie = impairment.equipment_impairment
    effective = ie + (95 - ie) * loss_percent / (loss_percent + impairment.loss_robustness)
    rating = _R_DEFAULT - delay_impairment - effective
    if rating <= 0:
        return 1.0
    if rating >= 100:
        return 4.5
    mos = 1 + 0.035 * rating + 7e-6 * rating * (rating - 60) * (100 - rating)
    return min(max(mos, 1.0), 4.5)
