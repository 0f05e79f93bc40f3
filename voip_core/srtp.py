"""SRTP and SRTCP: encrypt, authenticate and replay-protect RTP and RTCP [RFC 3711].

This module is layer 1 of voip-core: pure and synchronous, bytes in and bytes
out, once per packet. One :class:`SRTPContext` holds the session keys of one
direction of a call (derived once, key derivation rate 0 [RFC 3711 §4.3.1])
and, per SSRC, the rollover counter, the highest index seen and a replay
window; :class:`SRTPSession` pairs an outbound and an inbound context for a
call. The suites are those SDES names [RFC 4568 §6.2] and AEAD AES-GCM
[RFC 7714 §12]:

- ``AES_CM_128_HMAC_SHA1_80`` and ``AES_CM_128_HMAC_SHA1_32``: AES in counter
  mode [RFC 3711 §4.1.1] and HMAC-SHA1 over the packet and the ROC, cut to 80
  or 32 bits [RFC 3711 §4.2.1]; SRTCP always takes an 80-bit tag
  [RFC 4568 §6.2.2].
- ``AEAD_AES_128_GCM`` and ``AEAD_AES_256_GCM``: AES-GCM with a 16-octet tag,
  the header as associated data and a 96-bit master salt [RFC 7714 §8, §9,
  §11, errata 4938].

What happens to a packet:

- Index: the 48-bit SRTP index is ROC * 2**16 + SEQ. The receiver guesses the
  ROC from the highest sequence number seen (the "v" of
  [RFC 3711 §3.3.1, Appendix A]); the sender keeps its own per SSRC.
- Replay: a sliding window (128 packets unless told otherwise, at least the
  64 of [RFC 3711 §3.3.2]) per SSRC. The check runs before authentication, the
  window and ROC move only after it succeeds [RFC 3711 §3.3 steps 2-6], so a
  forged packet changes nothing.
- Only the payload is encrypted; the header, CSRC list and header extension
  are authenticated in the clear [RFC 3711 §3.1].
- SRTCP encrypts all but the first 8 octets, sets the E flag and carries a
  31-bit index counted per context from 0 [RFC 3711 §3.4].

MKIs, key derivation rates other than 0 and AES-f8 are not offered.

Speed: everything stays in `cryptography` and :mod:`hashlib`. Each context
keeps its AES-GCM object, one AES-CTR encryptor moved from packet to packet
with ``reset_nonce`` (a new CTR Cipher would cost ~20 µs), and the SHA-1
states after the HMAC pads, copied per packet. A 172-octet packet then costs
about what libsrtp through pylibsrtp costs for GCM, and 1.4-2x for
AES-CM/HMAC-SHA1, where the two crypto steps alone take ~2 µs over nine calls
into C (``bench/cases_srtp.py``).

Example (a sender and a receiver with the same SDES key)::

    >>> import base64
    >>> key_and_salt = bytes(range(30))
    >>> sender = SRTPContext("AES_CM_128_HMAC_SHA1_80", key_and_salt[:16], key_and_salt[16:])
    >>> receiver = SRTPContext.from_inline(
    ...     "AES_CM_128_HMAC_SHA1_80", base64.b64encode(key_and_salt).decode()
    ... )
    >>> rtp = bytes.fromhex("80000001 00000000 deadbeef") + b"hello"
    >>> srtp = sender.protect(rtp)
    >>> len(srtp) - len(rtp)  # an 80-bit authentication tag
    10
    >>> receiver.unprotect(srtp) == rtp
    True
    >>> receiver.unprotect(srtp)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    voip_core.srtp.ReplayedPacket: SRTP packet 1 of SSRC 0xdeadbeef was already received or ...
    >>> (receiver.unprotected, receiver.replays)
    (1, 1)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest
from typing import TYPE_CHECKING, Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voip_core.errors import ParseError, VoIPError

if TYPE_CHECKING:
    from _hashlib import HASH

__all__ = [
    "LABEL_RTCP_AUTH",
    "LABEL_RTCP_ENCRYPTION",
    "LABEL_RTCP_SALT",
    "LABEL_RTP_AUTH",
    "LABEL_RTP_ENCRYPTION",
    "LABEL_RTP_SALT",
    "NULL_CIPHER_SUITES",
    "SUITES",
    "AuthenticationFailed",
    "MalformedPacket",
    "ReplayedPacket",
    "SRTPContext",
    "SRTPError",
    "SRTPSession",
    "SuiteInfo",
    "derive_keys",
]


class SRTPError(VoIPError):
    """Base class of what :class:`SRTPContext` raises about a packet."""


class AuthenticationFailed(SRTPError):
    """The authentication tag does not match: tampered, truncated or wrong key [RFC 3711 §3.3]."""


class ReplayedPacket(SRTPError):
    """The packet's index was seen already or lies behind the replay window [RFC 3711 §3.3.2].

    :meth:`SRTPContext.protect` raises it too when a packet would reuse an index
    (and so the keystream) of an earlier one [RFC 3711 §9.1].
    """


class MalformedPacket(SRTPError, ParseError):
    """Too short for its header and tag, or not RTP/RTCP version 2 [RFC 3550 §5.1, §6.4]."""


# Key derivation labels [RFC 3711 §4.3.1, §4.3.2].
LABEL_RTP_ENCRYPTION = 0x00
LABEL_RTP_AUTH = 0x01
LABEL_RTP_SALT = 0x02
LABEL_RTCP_ENCRYPTION = 0x03
LABEL_RTCP_AUTH = 0x04
LABEL_RTCP_SALT = 0x05


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteInfo:
    """What a crypto suite needs and puts on the wire.

    Attributes:
        name: The SDES name [RFC 4568 §6.2, RFC 7714 §14.2].
        aead: True for AES-GCM (tag from the cipher), False for AES-CM or
            NULL with HMAC-SHA1.
        encrypts: False for the NULL cipher (authentication only).
        master_key_length: Octets of master key (16 or 32).
        master_salt_length: Octets of master salt (14 for AES-CM, 12 for GCM).
        session_salt_length: Octets of session salt [RFC 3711 §4.3.1].
        auth_key_length: Octets of HMAC-SHA1 key (0 for AEAD) [RFC 3711 §4.2.1].
        rtp_tag_length: Octets of tag after an SRTP packet.
        rtcp_tag_length: Octets of tag in an SRTCP packet.
    """

    name: str
    aead: bool
    encrypts: bool
    master_key_length: int
    master_salt_length: int
    session_salt_length: int
    auth_key_length: int
    rtp_tag_length: int
    rtcp_tag_length: int

    @property
    def inline_key_length(self) -> int:
        """Octets in an SDES ``inline:`` key: master key then salt [RFC 4568 §6.1]."""
        return self.master_key_length + self.master_salt_length


def _hmac_suite(name: str, tag_length: int, *, encrypts: bool = True) -> SuiteInfo:
    return SuiteInfo(
        name=name,
        aead=False,
        encrypts=encrypts,
        master_key_length=16,
        master_salt_length=14,
        session_salt_length=14,
        auth_key_length=20,
        rtp_tag_length=tag_length,
        rtcp_tag_length=10,
    )


def _gcm_suite(name: str, key_length: int) -> SuiteInfo:
    return SuiteInfo(
        name=name,
        aead=True,
        encrypts=True,
        master_key_length=key_length,
        master_salt_length=12,
        session_salt_length=12,
        auth_key_length=0,
        rtp_tag_length=16,
        rtcp_tag_length=16,
    )


#: The suites this module offers, by SDES name, strongest last.
SUITES: dict[str, SuiteInfo] = {
    suite.name: suite
    for suite in (
        _hmac_suite("AES_CM_128_HMAC_SHA1_32", 4),
        _hmac_suite("AES_CM_128_HMAC_SHA1_80", 10),
        _gcm_suite("AEAD_AES_128_GCM", 16),
        _gcm_suite("AEAD_AES_256_GCM", 32),
    )
}

#: Authentication-only suites (no confidentiality; the DTLS-SRTP
#: SRTP_NULL_HMAC_SHA1_* profiles [RFC 5764 §4.1.2]). :class:`SRTPContext`
#: accepts them, but they are kept out of :data:`SUITES` so nothing offers
#: them by accident.
NULL_CIPHER_SUITES: dict[str, SuiteInfo] = {
    suite.name: suite
    for suite in (
        _hmac_suite("NULL_HMAC_SHA1_32", 4, encrypts=False),
        _hmac_suite("NULL_HMAC_SHA1_80", 10, encrypts=False),
    )
}

_PRF_SALT_LENGTH = 14  # the AES-CM PRF works on a 112-bit salt [RFC 3711 §4.3.3]
_MAX_INDEX_DIV_KDR = (1 << 48) - 1
_MAX_SRTCP_INDEX = 0x7FFFFFFF
_E_FLAG = 0x80000000
_MIN_REPLAY_WINDOW = 64  # [RFC 3711 §3.3.2]
_GCM_TAG_LENGTH = 16  # [RFC 7714 §6]
_SHA1_BLOCK = 64

_RTP_FIELDS = struct.Struct("!BxH4xI")  # first octet, sequence number, SSRC [RFC 3550 §5.1]
_RTCP_FIELDS = struct.Struct("!B3xI")  # first octet, sender SSRC [RFC 3550 §6.4]
_unpack_rtp = _RTP_FIELDS.unpack_from
_unpack_rtcp = _RTCP_FIELDS.unpack_from


def derive_keys(
    master_key: bytes,
    master_salt: bytes,
    label: int,
    length: int,
    index: int = 0,
    kdr: int = 0,
) -> bytes:
    """Derive one session key or salt with the AES-CM PRF [RFC 3711 §4.3.1, §4.3.3].

    ``x = (label || index DIV kdr) XOR master_salt``, and the result is the
    first ``length`` octets of AES-CM keystream under ``master_key`` from the
    IV ``x * 2**16``. A 32-octet master key gives the AES_256_CM_PRF
    [RFC 6188 §3]. A 12-octet (GCM) master salt is multiplied by 2**16 to
    make the 112-bit PRF salt [RFC 7714 §11, errata 4938].

    Args:
        master_key: 16 or 32 octets.
        master_salt: 12 or 14 octets.
        label: 0-5, see the ``LABEL_*`` constants.
        length: Octets wanted.
        index: The packet index (SRTP) or SRTCP index, for ``kdr > 0``.
        kdr: Key derivation rate; 0 derives once [RFC 3711 §4.3.1].

    Returns:
        ``length`` octets.

    Raises:
        ValueError: A key, salt, label or rate out of range.

    >>> derive_keys(bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139"),
    ...             bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6"), 0, 16).hex()  # RFC 3711 B.3
    'c61e7a93744f39ee10734afe3ff7a087'
    """
    if len(master_key) not in (16, 32):
        raise ValueError(f"SRTP master key must be 16 or 32 octets, got {len(master_key)}")
    if len(master_salt) not in (12, _PRF_SALT_LENGTH):
        raise ValueError(f"SRTP master salt must be 12 or 14 octets, got {len(master_salt)}")
    if not 0 <= label <= 0xFF:
        raise ValueError(f"key derivation label must be 0..255, got {label}")
    if kdr < 0 or (kdr and kdr & (kdr - 1)):
        raise ValueError(f"key derivation rate must be 0 or a power of 2, got {kdr}")
    if length < 0:
        raise ValueError(f"length must not be negative, got {length}")
    index_div_kdr = (index // kdr if kdr else 0) & _MAX_INDEX_DIV_KDR
    salt = int.from_bytes(master_salt.ljust(_PRF_SALT_LENGTH, b"\0"), "big")
    x = salt ^ (label << 48) ^ index_div_kdr
    keystream = Cipher(algorithms.AES(master_key), modes.CTR((x << 16).to_bytes(16, "big")))
    return keystream.encryptor().update(bytes(length))


# AES-CM [RFC 3711 §4.1.1] is AES-CTR from the IV. Making a CTR Cipher costs
# ~20 µs in `cryptography` (an OpenSSL cipher fetch each time), more than the
# rest of a packet, so each context keeps one encryptor and moves it to the
# next packet's IV with `reset_nonce` (cryptography 43 and later).


class _CounterMode(Protocol):
    def reset_nonce(self, nonce: bytes, /) -> None: ...
    def update(self, data: bytes, /) -> bytes: ...


class _FreshCounterMode:
    """AES-CTR for cryptography < 43, which has no ``reset_nonce``: a new context per packet."""

    __slots__ = ("_algorithm", "_context")

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)
        self._context = Cipher(self._algorithm, modes.CTR(bytes(16))).encryptor()

    def reset_nonce(self, nonce: bytes, /) -> None:
        self._context = Cipher(self._algorithm, modes.CTR(nonce)).encryptor()

    def update(self, data: bytes, /) -> bytes:
        return self._context.update(data)


def _counter_mode(key: bytes) -> _CounterMode:
    context = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return context if hasattr(context, "reset_nonce") else _FreshCounterMode(key)


def _hmac_pads(key: bytes) -> tuple[HASH, HASH]:
    """SHA-1 states after the inner and outer HMAC pads [RFC 2104 §2], to be copied per packet."""
    block = key.ljust(_SHA1_BLOCK, b"\0")
    inner = hashlib.sha1(bytes(octet ^ 0x36 for octet in block))
    outer = hashlib.sha1(bytes(octet ^ 0x5C for octet in block))
    return inner, outer


def _rtp_header_length(packet: bytes, first: int, tail: int) -> int:
    """Octets of RTP header (fixed, CSRCs, extension) [RFC 3550 §5.1, §5.3.1].

    The slow path, for packets with CSRCs or an extension, or not version 2.
    ``tail`` is how many octets must follow the header (the tag).
    """
    if first >> 6 != 2:
        raise MalformedPacket(f"not an RTP version 2 packet (first octet 0x{first:02x})")
    length = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(packet) < length + 4:
            raise MalformedPacket("RTP header extension runs past the packet", offset=length)
        length += 4 + 4 * int.from_bytes(packet[length + 2 : length + 4], "big")
    if length + tail > len(packet):
        raise MalformedPacket(
            f"packet of {len(packet)} octets is shorter than its {length}-octet RTP header"
            + (f" and {tail}-octet tag" if tail else ""),
            offset=len(packet),
        )
    return length


class _ReplayWindow:
    """One SSRC's highest accepted index and the window of indexes below it [RFC 3711 §3.3.2]."""

    __slots__ = ("bits", "highest", "mask", "size")

    def __init__(self, index: int, size: int) -> None:
        self.highest = index
        self.size = size
        self.mask = (1 << size) - 1
        self.bits = 1  # bit k set: index highest - k was accepted

    def too_old(self, index: int) -> bool:
        """Behind the window (or before ROC 0): it can be neither checked nor used."""
        return index < 0 or self.highest - index >= self.size

    def seen(self, index: int) -> bool:
        """Accepted already, or too old to tell."""
        behind = self.highest - index
        if behind < 0:
            return False
        return index < 0 or behind >= self.size or bool(self.bits >> behind & 1)

    def accept(self, index: int) -> None:
        """Record ``index``; slide the window when it is the new highest."""
        ahead = index - self.highest
        if ahead > 0:
            self.bits = ((self.bits << ahead) | 1) & self.mask if ahead < self.size else 1
            self.highest = index
        else:
            self.bits |= 1 << -ahead


class SRTPContext:
    """One direction of an SRTP session: keys, and ROC and replay state per SSRC.

    A sender calls :meth:`protect` and :meth:`protect_rtcp`; a receiver, with
    its own context made from the peer's key, :meth:`unprotect` and
    :meth:`unprotect_rtcp`. A context is not thread-safe.

    Args:
        suite: A name from :data:`SUITES` (or :data:`NULL_CIPHER_SUITES`).
        master_key: The master key, of the suite's length.
        master_salt: The master salt, of the suite's length.
        replay_window: Packets the replay window spans, at least 64
            [RFC 3711 §3.3.2].
        allow_repeat_tx: Let :meth:`protect` encrypt an index it has used
            already (a retransmission). Off by default: two packets under one
            index share a keystream [RFC 3711 §9.1].

    Raises:
        ValueError: Unknown suite, wrong key or salt length, window under 64.

    Attributes:
        suite: The :class:`SuiteInfo` in use.
        protected: SRTP and SRTCP packets protected.
        unprotected: SRTP and SRTCP packets that passed authentication.
        auth_failures: Packets whose tag did not match.
        replays: Packets rejected by the replay check.
    """

    __slots__ = (
        "_allow_repeat_tx",
        "_rtcp_aead",
        "_rtcp_ctr",
        "_rtcp_inner",
        "_rtcp_outer",
        "_rtcp_rx",
        "_rtcp_salt",
        "_rtp_aead",
        "_rtp_ctr",
        "_rtp_inner",
        "_rtp_outer",
        "_rtp_rx",
        "_rtp_salt",
        "_rtp_tx",
        "_srtcp_index",
        "_window_size",
        "auth_failures",
        "protected",
        "replays",
        "suite",
        "unprotected",
    )

    def __init__(
        self,
        suite: str,
        master_key: bytes,
        master_salt: bytes,
        *,
        replay_window: int = 128,
        allow_repeat_tx: bool = False,
    ) -> None:
        info = _suite(suite)
        if len(master_key) != info.master_key_length:
            raise ValueError(
                f"{suite} needs a {info.master_key_length}-octet master key, got {len(master_key)}"
            )
        if len(master_salt) != info.master_salt_length:
            raise ValueError(
                f"{suite} needs a {info.master_salt_length}-octet master salt, "
                f"got {len(master_salt)}"
            )
        if replay_window < _MIN_REPLAY_WINDOW:
            raise ValueError(f"replay window must span at least 64 packets, got {replay_window}")
        self.suite = info
        self._window_size = replay_window
        self._allow_repeat_tx = allow_repeat_tx
        self._rtp_tx: dict[int, _ReplayWindow] = {}
        self._rtp_rx: dict[int, _ReplayWindow] = {}
        self._rtcp_rx: dict[int, _ReplayWindow] = {}
        self._srtcp_index = 0
        self.protected = self.unprotected = self.auth_failures = self.replays = 0

        def derive(label: int, length: int) -> bytes:
            return derive_keys(master_key, master_salt, label, length)

        key_length, salt_length = info.master_key_length, info.session_salt_length
        self._rtp_aead: AESGCM | None = None
        self._rtcp_aead: AESGCM | None = None
        self._rtp_ctr: _CounterMode | None = None
        self._rtcp_ctr: _CounterMode | None = None
        self._rtp_inner: HASH | None = None
        self._rtp_outer: HASH | None = None
        self._rtcp_inner: HASH | None = None
        self._rtcp_outer: HASH | None = None
        # Salts as integers ready to XOR: the GCM IV is 96 bits [RFC 7714 §8.1];
        # the AES-CM IV is the 112-bit salt times 2**16 [RFC 3711 §4.1.1].
        rtp_salt = int.from_bytes(derive(LABEL_RTP_SALT, salt_length), "big")
        rtcp_salt = int.from_bytes(derive(LABEL_RTCP_SALT, salt_length), "big")
        if info.aead:
            self._rtp_aead = AESGCM(derive(LABEL_RTP_ENCRYPTION, key_length))
            self._rtcp_aead = AESGCM(derive(LABEL_RTCP_ENCRYPTION, key_length))
            self._rtp_salt, self._rtcp_salt = rtp_salt, rtcp_salt
            return
        if info.encrypts:
            self._rtp_ctr = _counter_mode(derive(LABEL_RTP_ENCRYPTION, key_length))
            self._rtcp_ctr = _counter_mode(derive(LABEL_RTCP_ENCRYPTION, key_length))
        self._rtp_salt, self._rtcp_salt = rtp_salt << 16, rtcp_salt << 16
        self._rtp_inner, self._rtp_outer = _hmac_pads(derive(LABEL_RTP_AUTH, info.auth_key_length))
        self._rtcp_inner, self._rtcp_outer = _hmac_pads(
            derive(LABEL_RTCP_AUTH, info.auth_key_length)
        )

    @classmethod
    def from_inline(cls, suite: str, inline_key_b64: str, *, replay_window: int = 128) -> Self:
        """Make a context from an SDES ``inline:`` key: base64 of key then salt [RFC 4568 §6.1].

        Takes the bare base64, or it with the ``inline:`` prefix and a
        ``|lifetime`` after it (not enforced). An MKI (``|1:4``) is refused:
        this module does not carry MKIs.

        Raises:
            ValueError: Not base64, the wrong length, an MKI, or an unknown suite.
        """
        info = _suite(suite)
        key_text, *parameters = inline_key_b64.strip().removeprefix("inline:").split("|")
        if len(parameters) > 1 or any(":" in parameter for parameter in parameters):
            raise ValueError("SDES inline keys with an MKI are not supported [RFC 4568 §6.1]")
        try:
            key_and_salt = base64.b64decode(key_text, validate=True)
        except binascii.Error as error:
            raise ValueError(f"SDES inline key is not base64: {error}") from None
        if len(key_and_salt) != info.inline_key_length:
            raise ValueError(
                f"{suite} needs {info.inline_key_length} octets of key and salt, "
                f"the inline key has {len(key_and_salt)}"
            )
        split = info.master_key_length
        return cls(suite, key_and_salt[:split], key_and_salt[split:], replay_window=replay_window)

    def __repr__(self) -> str:  # never the keys
        return (
            f"<SRTPContext {self.suite.name} protected={self.protected} "
            f"unprotected={self.unprotected} auth_failures={self.auth_failures} "
            f"replays={self.replays}>"
        )

    # SRTP -----------------------------------------------------------------------------------

    def protect(self, rtp: bytes) -> bytes:
        """Encrypt the payload of an RTP packet and append its tag [RFC 3711 §3.3].

        Args:
            rtp: A whole RTP packet (header, CSRCs, extension, payload).

        Returns:
            The SRTP packet: the header as it was, the encrypted payload, the tag.

        Raises:
            MalformedPacket: Not a version 2 RTP packet, or shorter than its header.
            ReplayedPacket: Its index was used already (unless ``allow_repeat_tx``),
                or lies behind the replay window.
        """
        try:
            first, sequence, ssrc = _unpack_rtp(rtp)
        except struct.error:
            raise MalformedPacket(f"RTP packet of {len(rtp)} octets is too short") from None
        header_length = 12 if first & 0xDF == 0x80 else _rtp_header_length(rtp, first, 0)
        window = self._rtp_tx.get(ssrc)
        if window is None:
            index = sequence  # the ROC starts at 0 [RFC 3711 §3.3.1]
            self._rtp_tx[ssrc] = _ReplayWindow(index, self._window_size)
        elif sequence == (window.highest + 1) & 0xFFFF:  # the next one: the usual case
            index = window.highest + 1
            window.bits = ((window.bits << 1) | 1) & window.mask
            window.highest = index
        else:
            index = _estimate_index(window.highest, sequence)
            if window.seen(index) and (not self._allow_repeat_tx or window.too_old(index)):
                raise ReplayedPacket(
                    f"SRTP packet {sequence} of SSRC 0x{ssrc:08x} was sent already or is "
                    "behind the replay window: it would reuse a keystream [RFC 3711 §9.1]"
                )
            window.accept(index)
        self.protected += 1
        aead = self._rtp_aead
        if aead is not None:
            # IV = (0 || SSRC || ROC || SEQ) XOR salt; AAD = header [RFC 7714 §8.1, §8.2].
            nonce = (self._rtp_salt ^ (ssrc << 48) ^ index).to_bytes(12, "big")
            header = rtp[:header_length]
            return header + aead.encrypt(nonce, rtp[header_length:], header)
        ctr = self._rtp_ctr
        if ctr is None:
            body = rtp
        else:
            ctr.reset_nonce((self._rtp_salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16, "big"))
            body = rtp[:header_length] + ctr.update(rtp[header_length:])
        # Tag = HMAC-SHA1(packet || ROC), cut short [RFC 3711 §4.2].
        inner, outer = self._rtp_inner, self._rtp_outer
        assert inner is not None and outer is not None
        digest = inner.copy()
        digest.update(body)
        digest.update((index >> 16).to_bytes(4, "big"))
        tag = outer.copy()
        tag.update(digest.digest())
        return body + tag.digest()[: self.suite.rtp_tag_length]

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and decrypt an SRTP packet [RFC 3711 §3.3].

        The ROC, highest index and replay window of its SSRC move only once
        the tag matches.

        Args:
            srtp: A whole SRTP packet.

        Returns:
            The RTP packet, exactly as the sender gave it to ``protect``.

        Raises:
            MalformedPacket: Too short, or not version 2.
            ReplayedPacket: Already received, or behind the replay window.
            AuthenticationFailed: The tag does not match.
        """
        tag_length = self.suite.rtp_tag_length
        try:
            first, sequence, ssrc = _unpack_rtp(srtp)
        except struct.error:
            raise MalformedPacket(f"SRTP packet of {len(srtp)} octets is too short") from None
        if first & 0xDF == 0x80 and len(srtp) >= 12 + tag_length:
            header_length = 12
        else:
            header_length = _rtp_header_length(srtp, first, tag_length)
        window = self._rtp_rx.get(ssrc)
        if window is None:
            index = sequence
        elif sequence == (window.highest + 1) & 0xFFFF:  # the next one: the usual case
            index = window.highest + 1
        else:
            index = _estimate_index(window.highest, sequence)
            if window.seen(index):
                self.replays += 1
                raise ReplayedPacket(
                    f"SRTP packet {sequence} of SSRC 0x{ssrc:08x} was already received "
                    "or is behind the replay window"
                )
        aead = self._rtp_aead
        if aead is not None:
            nonce = (self._rtp_salt ^ (ssrc << 48) ^ index).to_bytes(12, "big")
            header = srtp[:header_length]
            try:
                rtp = header + aead.decrypt(nonce, srtp[header_length:], header)
            except InvalidTag:
                self.auth_failures += 1
                raise AuthenticationFailed(
                    f"SRTP packet {sequence} of SSRC 0x{ssrc:08x} fails authentication"
                ) from None
        else:
            end = len(srtp) - tag_length
            inner, outer = self._rtp_inner, self._rtp_outer
            assert inner is not None and outer is not None
            digest = inner.copy()
            digest.update(srtp[:end])
            digest.update((index >> 16).to_bytes(4, "big"))
            tag = outer.copy()
            tag.update(digest.digest())
            if not compare_digest(tag.digest()[:tag_length], srtp[end:]):
                self.auth_failures += 1
                raise AuthenticationFailed(
                    f"SRTP packet {sequence} of SSRC 0x{ssrc:08x} fails authentication"
                )
            ctr = self._rtp_ctr
            if ctr is None:
                rtp = srtp[:end]
            else:
                iv = self._rtp_salt ^ (ssrc << 64) ^ (index << 16)
                ctr.reset_nonce(iv.to_bytes(16, "big"))
                rtp = srtp[:header_length] + ctr.update(srtp[header_length:end])
        # Authentic: only now move the ROC and window [RFC 3711 §3.3.1, §3.3.2].
        if window is None:
            self._rtp_rx[ssrc] = _ReplayWindow(index, self._window_size)
        elif index == window.highest + 1:
            window.bits = ((window.bits << 1) | 1) & window.mask
            window.highest = index
        else:
            window.accept(index)
        self.unprotected += 1
        return rtp

    # SRTCP ----------------------------------------------------------------------------------

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Encrypt an RTCP compound packet after its first 8 octets, add E|index and tag.

        The E flag is set and the 31-bit SRTCP index counts from 0 for this
        context [RFC 3711 §3.4]; the NULL cipher sends E = 0. For GCM the
        associated data is the first 8 octets and E|index, and the tag comes
        before E|index [RFC 7714 §9].

        Raises:
            MalformedPacket: Shorter than 8 octets, or not version 2.
            SRTPError: 2**31 SRTCP packets were sent: the key must change.
        """
        try:
            first, ssrc = _unpack_rtcp(rtcp)
        except struct.error:
            raise MalformedPacket(f"RTCP packet of {len(rtcp)} octets is too short") from None
        if first >> 6 != 2:
            raise MalformedPacket(f"not an RTCP version 2 packet (first octet 0x{first:02x})")
        index = self._srtcp_index
        if index > _MAX_SRTCP_INDEX:
            raise SRTPError("SRTCP index exhausted: re-key before sending more [RFC 3711 §3.4]")
        self._srtcp_index = index + 1
        self.protected += 1
        header = rtcp[:8]
        aead = self._rtcp_aead
        if aead is not None:
            # IV = (0 || SSRC || 0 || 0 || index) XOR salt [RFC 7714 §9.1].
            trailer = (_E_FLAG | index).to_bytes(4, "big")
            nonce = (self._rtcp_salt ^ (ssrc << 48) ^ index).to_bytes(12, "big")
            return header + aead.encrypt(nonce, rtcp[8:], header + trailer) + trailer
        ctr = self._rtcp_ctr
        if ctr is None:
            body = rtcp + index.to_bytes(4, "big")
        else:
            ctr.reset_nonce((self._rtcp_salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16, "big"))
            body = header + ctr.update(rtcp[8:]) + (_E_FLAG | index).to_bytes(4, "big")
        return body + self._rtcp_tag(body)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and decrypt an SRTCP packet [RFC 3711 §3.4, RFC 7714 §9].

        Packets with E = 0 (authenticated, sent in the clear) are taken too.

        Raises:
            MalformedPacket: Too short, or not version 2.
            ReplayedPacket: Its SRTCP index was seen, or is behind the window.
            AuthenticationFailed: The tag does not match.
        """
        aead = self._rtcp_aead
        tag_length = self.suite.rtcp_tag_length
        # HMAC suites put the tag after E|index, GCM before it [RFC 7714 §9].
        index_end = len(srtcp) - (0 if aead is not None else tag_length)
        if index_end - 4 < 8 + (tag_length if aead is not None else 0):
            raise MalformedPacket(f"SRTCP packet of {len(srtcp)} octets is too short")
        first, ssrc = _unpack_rtcp(srtcp)
        if first >> 6 != 2:
            raise MalformedPacket(f"not an RTCP version 2 packet (first octet 0x{first:02x})")
        trailer = srtcp[index_end - 4 : index_end]
        word = int.from_bytes(trailer, "big")
        index = word & _MAX_SRTCP_INDEX
        window = self._rtcp_rx.get(ssrc)
        if window is not None and window.seen(index):
            self.replays += 1
            raise ReplayedPacket(
                f"SRTCP index {index} of SSRC 0x{ssrc:08x} was already received "
                "or is behind the replay window"
            )
        header = srtcp[:8]
        try:
            if aead is not None:
                nonce = (self._rtcp_salt ^ (ssrc << 48) ^ index).to_bytes(12, "big")
                if word & _E_FLAG:
                    rtcp = header + aead.decrypt(nonce, srtcp[8:-4], header + trailer)
                else:  # sent in the clear: all of it is associated data [RFC 7714 §9.2]
                    rtcp = srtcp[: -4 - _GCM_TAG_LENGTH]
                    aead.decrypt(nonce, srtcp[-4 - _GCM_TAG_LENGTH : -4], rtcp + trailer)
            else:
                if not compare_digest(self._rtcp_tag(srtcp[:index_end]), srtcp[index_end:]):
                    raise InvalidTag
                rtcp = srtcp[: index_end - 4]
                ctr = self._rtcp_ctr
                if word & _E_FLAG and ctr is not None:
                    iv = self._rtcp_salt ^ (ssrc << 64) ^ (index << 16)
                    ctr.reset_nonce(iv.to_bytes(16, "big"))
                    rtcp = header + ctr.update(rtcp[8:])
        except InvalidTag:
            self.auth_failures += 1
            raise AuthenticationFailed(
                f"SRTCP packet of SSRC 0x{ssrc:08x} fails authentication"
            ) from None
        if window is None:
            self._rtcp_rx[ssrc] = _ReplayWindow(index, self._window_size)
        else:
            window.accept(index)
        self.unprotected += 1
        return rtcp

    def _rtcp_tag(self, authenticated: bytes) -> bytes:
        """HMAC-SHA1 over the packet up to and with E|index, cut to 80 bits [RFC 3711 §3.4]."""
        inner, outer = self._rtcp_inner, self._rtcp_outer
        assert inner is not None and outer is not None
        digest = inner.copy()
        digest.update(authenticated)
        tag = outer.copy()
        tag.update(digest.digest())
        return tag.digest()[: self.suite.rtcp_tag_length]


class SRTPSession:
    """Both directions of a call: what we send under our key, what arrives under theirs.

    SDES gives each side its own master key [RFC 4568 §6.1]: we protect with
    ours and unprotect with the peer's. ``protect``, ``unprotect``,
    ``protect_rtcp`` and ``unprotect_rtcp`` are those of :attr:`outbound` and
    :attr:`inbound` (bound once, no extra call per packet).

    Args:
        suite: A name from :data:`SUITES`.
        local_key: Our master key then master salt (the ``inline:`` key we sent).
        remote_key: The peer's master key then master salt.
        replay_window: For the inbound context, see :class:`SRTPContext`.

    Raises:
        ValueError: Unknown suite, or a key of the wrong length.

    >>> ours, theirs = bytes(range(30)), bytes(range(30, 60))
    >>> alice = SRTPSession("AES_CM_128_HMAC_SHA1_80", ours, theirs)
    >>> bob = SRTPSession("AES_CM_128_HMAC_SHA1_80", theirs, ours)
    >>> rtp = bytes.fromhex("80000001 00000000 deadbeef") + b"hi"
    >>> bob.unprotect(alice.protect(rtp)) == rtp
    True
    """

    __slots__ = ("inbound", "outbound", "protect", "protect_rtcp", "unprotect", "unprotect_rtcp")

    def __init__(
        self, suite: str, local_key: bytes, remote_key: bytes, *, replay_window: int = 128
    ) -> None:
        info = _suite(suite)
        for name, key in (("local", local_key), ("remote", remote_key)):
            if len(key) != info.inline_key_length:
                raise ValueError(
                    f"{suite} needs {info.inline_key_length} octets of {name} key and salt, "
                    f"got {len(key)}"
                )
        split = info.master_key_length
        self.outbound = SRTPContext(suite, local_key[:split], local_key[split:])
        self.inbound = SRTPContext(
            suite, remote_key[:split], remote_key[split:], replay_window=replay_window
        )
        self.protect: Callable[[bytes], bytes] = self.outbound.protect
        self.protect_rtcp: Callable[[bytes], bytes] = self.outbound.protect_rtcp
        self.unprotect: Callable[[bytes], bytes] = self.inbound.unprotect
        self.unprotect_rtcp: Callable[[bytes], bytes] = self.inbound.unprotect_rtcp

    def __repr__(self) -> str:  # never the keys
        return f"<SRTPSession outbound={self.outbound!r} inbound={self.inbound!r}>"


def _suite(name: str) -> SuiteInfo:
    info = SUITES.get(name) or NULL_CIPHER_SUITES.get(name)
    if info is None:
        raise ValueError(f"unknown SRTP suite {name!r}; known: {', '.join(SUITES)}")
    return info


def _estimate_index(highest: int, sequence: int) -> int:
    """The index of ``sequence`` given the highest index so far [RFC 3711 §3.3.1, Appendix A].

    Guesses the ROC ("v") as the stored ROC, one less (the packet comes from
    before a wrap), or one more (it starts a new wrap). The result is
    negative when the guess is "before ROC 0": such a packet is too old.
    """
    last = highest & 0xFFFF
    roc = highest >> 16
    if last < 0x8000:
        if sequence - last > 0x8000:
            roc -= 1
    elif last - 0x8000 > sequence:
        roc += 1
    return (roc << 16) | sequence
