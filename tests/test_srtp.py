"""Tests for voip_core.srtp: RFC 3711 vectors, libsrtp interop, replay, tampering, properties."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import need
from voip_core.errors import ParseError, VoIPError
from voip_core.srtp import (
    LABEL_RTCP_AUTH,
    LABEL_RTCP_ENCRYPTION,
    LABEL_RTCP_SALT,
    LABEL_RTP_AUTH,
    LABEL_RTP_ENCRYPTION,
    LABEL_RTP_SALT,
    NULL_CIPHER_SUITES,
    SUITES,
    AuthenticationFailed,
    MalformedPacket,
    ReplayedPacket,
    SRTPContext,
    SRTPError,
    SRTPSession,
    _counter_mode,
    _estimate_index,
    _FreshCounterMode,
    derive_keys,
)

pylibsrtp: ModuleType | None
try:
    import pylibsrtp
except ImportError:  # outside CI the interop tests skip; in CI `need` fails them
    pylibsrtp = None

ALL_SUITES = sorted(SUITES)
SSRC = 0x12345678


def _lib() -> Any:
    need(pylibsrtp is not None, "pylibsrtp (the libsrtp oracle) is not installed")
    return pylibsrtp


def _master(suite: str, seed: int = 1) -> tuple[bytes, bytes]:
    info = SUITES.get(suite) or NULL_CIPHER_SUITES[suite]
    material = bytes((seed + 7 * i) & 0xFF for i in range(info.inline_key_length))
    return material[: info.master_key_length], material[info.master_key_length :]


def _pair(suite: str, **options: Any) -> tuple[SRTPContext, SRTPContext]:
    key, salt = _master(suite)
    return SRTPContext(suite, key, salt, **options), SRTPContext(suite, key, salt, **options)


def rtp_packet(
    sequence: int,
    *,
    ssrc: int = SSRC,
    payload: bytes | None = None,
    csrcs: tuple[int, ...] = (),
    extension: bytes | None = None,
) -> bytes:
    """An RTP packet [RFC 3550 §5.1]; ``extension`` is the body of a 0xBEDE extension."""
    first = 0x80 | len(csrcs) | (0x10 if extension is not None else 0)
    header = struct.pack("!BBHII", first, 0, sequence & 0xFFFF, sequence * 160 & 0xFFFFFFFF, ssrc)
    header += b"".join(struct.pack("!I", csrc) for csrc in csrcs)
    if extension is not None:
        header += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    if payload is None:
        payload = bytes((sequence + i) & 0xFF for i in range(160))
    return header + payload


def sender_report(ssrc: int = SSRC, n: int = 0) -> bytes:
    """A 28-octet RTCP sender report [RFC 3550 §6.4.1]."""
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, n, 2, 3, 4 + n, 5)


def _libsrtp_pair(suite: str) -> tuple[Any, Any]:
    """libsrtp sender and receiver sessions for ``suite``, any SSRC."""
    lib = _lib()
    profile = {
        "AES_CM_128_HMAC_SHA1_80": lib.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        "AES_CM_128_HMAC_SHA1_32": lib.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
        "AEAD_AES_128_GCM": lib.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
        "AEAD_AES_256_GCM": lib.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    }[suite]
    key, salt = _master(suite)
    sender = lib.Session(
        lib.Policy(key=key + salt, ssrc_type=lib.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    )
    receiver = lib.Session(
        lib.Policy(key=key + salt, ssrc_type=lib.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )
    return sender, receiver


# ---------------------------------------------------------------------------
# RFC 3711 Appendix B and libsrtp's whole-packet vectors
# ---------------------------------------------------------------------------
# B.1 (AES-f8) is not tested: f8 is not offered (no SDES suite uses it).


@pytest.fixture(scope="module")
def srtp_vectors(vectors: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors / "srtp_rfc3711.json").read_text("utf-8"))
    return data


def test_b2_aes_cm_keystream(srtp_vectors: dict[str, Any]) -> None:
    """The AES-CM keystream, including blocks far into the segment [RFC 3711 B.2]."""
    vector = srtp_vectors["B.2_aes_cm"]
    key = bytes.fromhex(vector["session_key"])
    for make in (_counter_mode, _FreshCounterMode):  # reset_nonce, and the cryptography<43 path
        counter_mode = make(key)
        for block in vector["keystream"]:
            counter_mode.reset_nonce(bytes.fromhex(block["counter"]))
            assert counter_mode.update(bytes(16)).hex().upper() == block["keystream"]
        # One run from the offset reaches block 2 by counting [RFC 3711 §4.1.1].
        counter_mode.reset_nonce(bytes.fromhex(vector["offset_initial_counter"]))
        run = counter_mode.update(bytes(48)).hex().upper()
        assert run == "".join(block["keystream"] for block in vector["keystream"][:3])


def test_b3_key_derivation(srtp_vectors: dict[str, Any]) -> None:
    vector = srtp_vectors["B.3_key_derivation"]
    key = bytes.fromhex(vector["master_key"])
    salt = bytes.fromhex(vector["master_salt"])
    assert (
        derive_keys(key, salt, LABEL_RTP_ENCRYPTION, 16).hex().upper()
        == (vector["cipher_key"]["value"])
    )
    assert (
        derive_keys(key, salt, LABEL_RTP_SALT, 14).hex().upper() == (vector["cipher_salt"]["value"])
    )
    assert (
        derive_keys(key, salt, LABEL_RTP_AUTH, 94).hex().upper()
        == (vector["auth_key"]["value_94_octets"])
    )
    # kdr > 0 with index < kdr gives r = 0: the same keys [RFC 3711 §4.3.1].
    assert derive_keys(key, salt, LABEL_RTP_ENCRYPTION, 16, index=5, kdr=1 << 16) == (
        derive_keys(key, salt, LABEL_RTP_ENCRYPTION, 16)
    )
    assert derive_keys(key, salt, LABEL_RTP_ENCRYPTION, 16, index=1 << 16, kdr=1 << 16) != (
        derive_keys(key, salt, LABEL_RTP_ENCRYPTION, 16)
    )


def test_srtcp_session_keys_match_libsrtp(srtp_vectors: dict[str, Any]) -> None:
    vector = srtp_vectors["srtp_packet_vectors"][1]
    key = bytes.fromhex(vector["master_key"])
    salt = bytes.fromhex(vector["master_salt"])
    expected = vector["derived_session_keys"]
    assert derive_keys(key, salt, LABEL_RTCP_ENCRYPTION, 16).hex() == expected["srtcp_cipher_key"]
    assert derive_keys(key, salt, LABEL_RTCP_AUTH, 20).hex() == expected["srtcp_auth_key"]
    assert derive_keys(key, salt, LABEL_RTCP_SALT, 14).hex() == expected["srtcp_salt"]


def test_derive_keys_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="master key"):
        derive_keys(bytes(15), bytes(14), 0, 16)
    with pytest.raises(ValueError, match="master salt"):
        derive_keys(bytes(16), bytes(13), 0, 16)
    with pytest.raises(ValueError, match="power of 2"):
        derive_keys(bytes(16), bytes(14), 0, 16, kdr=3)
    with pytest.raises(ValueError, match="label"):
        derive_keys(bytes(16), bytes(14), 256, 16)


_PACKET_SUITES = {
    "libsrtp srtp_validate RTP, AES_CM_128_HMAC_SHA1_80": "AES_CM_128_HMAC_SHA1_80",
    "libsrtp srtp_validate_null_sha1_80 RTP, NULL cipher + HMAC_SHA1_80": "NULL_HMAC_SHA1_80",
    "derived: same RTP packet with AES_CM_128_HMAC_SHA1_32": "AES_CM_128_HMAC_SHA1_32",
}
_RTCP_SUITES = {
    "libsrtp srtp_validate RTCP, AES_CM_128_HMAC_SHA1_80 (SRTCP index 1, E=1)": (
        "AES_CM_128_HMAC_SHA1_80"
    ),
    "libsrtp srtp_validate_null_sha1_80 RTCP (SRTCP index 1, E=0)": "NULL_HMAC_SHA1_80",
}


def test_whole_packet_vectors(srtp_vectors: dict[str, Any]) -> None:
    """libsrtp's srtp_validate packets, byte for byte, both ways."""
    seen = set()
    for vector in srtp_vectors["srtp_packet_vectors"]:
        name = vector["name"]
        key = bytes.fromhex(vector["master_key"])
        salt = bytes.fromhex(vector["master_salt"])
        if name in _PACKET_SUITES:
            suite = _PACKET_SUITES[name]
            plain = bytes.fromhex(vector["rtp_plaintext"])
            protected = bytes.fromhex(vector["srtp_protected"])
            assert SRTPContext(suite, key, salt).protect(plain) == protected, name
            assert SRTPContext(suite, key, salt).unprotect(protected) == plain, name
        else:
            suite = _RTCP_SUITES[name]
            plain = bytes.fromhex(vector["rtcp_plaintext"])
            protected = bytes.fromhex(vector["srtcp_protected"])
            sender = SRTPContext(suite, key, salt)
            sender.protect_rtcp(plain)  # index 0; the vector is index 1
            assert sender.protect_rtcp(plain) == protected, name
            assert SRTPContext(suite, key, salt).unprotect_rtcp(protected) == plain, name
        seen.add(name)
    assert seen == set(_PACKET_SUITES) | set(_RTCP_SUITES)


# ---------------------------------------------------------------------------
# Interop with libsrtp (pylibsrtp), every suite it has
# ---------------------------------------------------------------------------


def _reordered(items: list[bytes]) -> list[bytes]:
    """Shuffle within blocks of 10 (well inside a 64-packet window); fixed seed."""
    shuffler = random.Random(3711)
    out: list[bytes] = []
    for start in range(0, len(items), 10):
        block = items[start : start + 10]
        shuffler.shuffle(block)
        out.extend(block)
    return out


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_ours_to_libsrtp_across_wrap_reordered_and_replayed(suite: str) -> None:
    lib = _lib()
    ours, _ = _pair(suite)
    _, libsrtp_receiver = _libsrtp_pair(suite)
    plain = [rtp_packet(sequence) for sequence in range(65500, 65600)]  # wraps at 65536
    protected = [ours.protect(packet) for packet in plain]
    by_wire = dict(zip(protected, plain, strict=True))
    for packet in _reordered(protected):
        assert libsrtp_receiver.unprotect(packet) == by_wire[packet]
    for packet in (protected[0], protected[50], protected[-1]):
        with pytest.raises(lib.Error, match="replay"):
            libsrtp_receiver.unprotect(packet)
    assert ours.protected == 100


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_libsrtp_to_ours_across_wrap_reordered_and_replayed(suite: str) -> None:
    libsrtp_sender, _ = _libsrtp_pair(suite)
    _, ours = _pair(suite)
    plain = [rtp_packet(sequence) for sequence in range(65500, 65600)]
    protected = [libsrtp_sender.protect(packet) for packet in plain]
    by_wire = dict(zip(protected, plain, strict=True))
    for packet in _reordered(protected):
        assert ours.unprotect(packet) == by_wire[packet]
    assert ours.unprotected == 100
    for count, packet in enumerate((protected[-1], protected[-40], protected[0]), start=1):
        with pytest.raises(ReplayedPacket):
            ours.unprotect(packet)
        assert ours.replays == count
    assert ours.unprotected == 100 and ours.auth_failures == 0


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_byte_identical_to_libsrtp_with_csrcs_and_extension(suite: str) -> None:
    libsrtp_sender, libsrtp_receiver = _libsrtp_pair(suite)
    ours_sender, ours_receiver = _pair(suite)
    packets = [
        rtp_packet(65534, csrcs=(1, 2, 3)),
        rtp_packet(65535, extension=bytes.fromhex("10aa0000 22bbccdd")),
        rtp_packet(0, csrcs=(9,), extension=bytes.fromhex("30ff0000")),
        rtp_packet(1, payload=b""),
        rtp_packet(2, payload=b"x" * 1000),
        rtp_packet(3, ssrc=0xCAFEBABE, payload=b"another stream"),
    ]
    for packet in packets:
        wire = ours_sender.protect(packet)
        assert wire == libsrtp_sender.protect(packet)  # same keys, same index: same bytes
        assert wire.startswith(packet[:12])  # the header stays in the clear
        assert libsrtp_receiver.unprotect(wire) == packet
        assert ours_receiver.unprotect(wire) == packet


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_srtcp_both_ways(suite: str) -> None:
    lib = _lib()
    libsrtp_sender, libsrtp_receiver = _libsrtp_pair(suite)
    ours_sender, ours_receiver = _pair(suite)
    reports = [sender_report(n=n) for n in range(5)]
    ours_wire = [ours_sender.protect_rtcp(report) for report in reports]
    for report, wire in zip(reports, ours_wire, strict=True):
        assert wire[8:12] != report[8:12]  # encrypted after the first 8 octets
        assert libsrtp_receiver.unprotect_rtcp(wire) == report
    # E = 1 and the 31-bit index counts from 0 [RFC 3711 §3.4].
    trailer_at = -4 if SUITES[suite].aead else -14
    indexes = [struct.unpack_from("!I", wire, len(wire) + trailer_at)[0] for wire in ours_wire]
    assert indexes == [0x80000000 | n for n in range(5)]
    with pytest.raises(lib.Error, match="replay"):
        libsrtp_receiver.unprotect_rtcp(ours_wire[2])
    libsrtp_wire = [libsrtp_sender.protect_rtcp(report) for report in reports]
    for report, wire in zip(reversed(reports), reversed(libsrtp_wire), strict=True):
        assert ours_receiver.unprotect_rtcp(wire) == report
    with pytest.raises(ReplayedPacket):
        ours_receiver.unprotect_rtcp(libsrtp_wire[0])
    assert (ours_receiver.unprotected, ours_receiver.replays) == (5, 1)


# ---------------------------------------------------------------------------
# Index estimation and replay [RFC 3711 §3.3.1, §3.3.2]
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("highest", "sequence", "expected"),
    [
        (1000, 1001, 1001),
        (1000, 999, 999),
        (65535, 0, 65536),  # a wrap: v = ROC + 1
        (65535 + 65536, 0, 2 * 65536),
        (65536 + 2, 65533, 65533),  # just before the wrap: v = ROC - 1
        (40000, 7000, 65536 + 7000),  # s_l >= 2**15, SEQ < s_l - 2**15: the next wrap
        (40000, 8000, 8000),
        (10, 65530, 65530 - 65536),  # "before ROC 0": negative, too old
    ],
)
def test_estimate_index(highest: int, sequence: int, expected: int) -> None:
    assert _estimate_index(highest, sequence) == expected


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_packet_from_before_the_first_wrap_is_a_replay_not_a_crash(suite: str) -> None:
    key, salt = _master(suite)
    receiver = SRTPContext(suite, key, salt)
    receiver.unprotect(SRTPContext(suite, key, salt).protect(rtp_packet(10)))
    # SEQ 65530 after 10 guesses ROC - 1 = -1: before the stream began [RFC 3711 §3.3.1].
    with pytest.raises(ReplayedPacket):
        receiver.unprotect(SRTPContext(suite, key, salt).protect(rtp_packet(65530)))
    assert (receiver.replays, receiver.auth_failures) == (1, 0)


@pytest.mark.parametrize("window", [64, 128, 1000])
def test_replay_window_edge(window: int) -> None:
    sender, receiver = _pair("AES_CM_128_HMAC_SHA1_80", replay_window=window)
    wire = [sender.protect(rtp_packet(sequence)) for sequence in range(window + 2)]
    receiver.unprotect(wire[-1])  # highest = window + 1
    receiver.unprotect(wire[2])  # window + 1 - 2 = window - 1 behind: the oldest still inside
    with pytest.raises(ReplayedPacket):
        receiver.unprotect(wire[1])  # window behind: outside
    assert (receiver.unprotected, receiver.replays) == (2, 1)


def test_replay_window_under_64_is_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        _pair("AES_CM_128_HMAC_SHA1_80", replay_window=63)


def test_a_big_jump_resets_the_window() -> None:
    sender, receiver = _pair("AEAD_AES_128_GCM")
    wire = [sender.protect(rtp_packet(sequence)) for sequence in (1, 2, 20000, 19999)]
    for packet in wire:
        receiver.unprotect(packet)
    with pytest.raises(ReplayedPacket):
        receiver.unprotect(wire[0])


def test_protect_refuses_to_reuse_an_index() -> None:
    sender, receiver = _pair("AES_CM_128_HMAC_SHA1_80")
    first = sender.protect(rtp_packet(5))
    with pytest.raises(ReplayedPacket, match="keystream"):
        sender.protect(rtp_packet(5, payload=b"different"))
    sender.protect(rtp_packet(300))
    with pytest.raises(ReplayedPacket):
        sender.protect(rtp_packet(6))  # behind the window
    sender.protect(rtp_packet(250))  # inside the window and never sent: fine
    assert receiver.unprotect(first) == rtp_packet(5)

    repeating, _ = _pair("AES_CM_128_HMAC_SHA1_80", allow_repeat_tx=True)
    assert repeating.protect(rtp_packet(5)) == repeating.protect(rtp_packet(5)) == first
    repeating.protect(rtp_packet(300))
    with pytest.raises(ReplayedPacket):
        repeating.protect(rtp_packet(6))  # too old stays refused


def test_streams_are_kept_per_ssrc() -> None:
    sender, receiver = _pair("AES_CM_128_HMAC_SHA1_80")
    a = sender.protect(rtp_packet(100, ssrc=1))
    b = sender.protect(rtp_packet(100, ssrc=2))  # same SEQ, other SSRC: not a reuse
    assert receiver.unprotect(a) == rtp_packet(100, ssrc=1)
    assert receiver.unprotect(b) == rtp_packet(100, ssrc=2)


# ---------------------------------------------------------------------------
# Tampering, truncation, garbage: an SRTPError/ParseError, state untouched
# ---------------------------------------------------------------------------


def _flip(packet: bytes, bit: int) -> bytes:
    mutable = bytearray(packet)
    mutable[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutable)


@pytest.mark.parametrize("suite", ALL_SUITES)
@pytest.mark.parametrize("where", ["header", "sequence", "payload", "tag"])
def test_tampered_packet_fails_and_changes_nothing(suite: str, where: str) -> None:
    sender, receiver = _pair(suite)
    wire = {n: sender.protect(rtp_packet(n)) for n in (65534, 65535, 0, 1)}
    receiver.unprotect(wire[65535])
    bit = {"header": 9 * 8, "sequence": 3 * 8, "payload": 20 * 8 + 3, "tag": -1}[where]
    target = wire[0]  # would move the ROC to 1
    bad = _flip(target, bit if bit >= 0 else len(target) * 8 - 1)
    with pytest.raises(AuthenticationFailed):
        receiver.unprotect(bad)
    assert (receiver.unprotected, receiver.auth_failures, receiver.replays) == (1, 1, 0)
    # Nothing moved: the real packet 0 still comes in (ROC 1), then 65534 (ROC 0, in window).
    assert receiver.unprotect(target) == rtp_packet(0)
    assert receiver.unprotect(wire[65534]) == rtp_packet(65534)
    assert receiver.unprotect(wire[1]) == rtp_packet(1)


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_tampered_srtcp_fails_and_changes_nothing(suite: str) -> None:
    sender, receiver = _pair(suite)
    wire = sender.protect_rtcp(sender_report())
    for bit in (6 * 8, 12 * 8, len(wire) * 8 - 1, (len(wire) - 15) * 8):
        with pytest.raises(AuthenticationFailed):
            receiver.unprotect_rtcp(_flip(wire, bit))
    assert receiver.unprotect_rtcp(wire) == sender_report()
    assert (receiver.unprotected, receiver.auth_failures) == (1, 4)


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_truncated_packets_are_rejected(suite: str) -> None:
    sender, receiver = _pair(suite)
    wire = sender.protect(rtp_packet(7, csrcs=(1,), extension=bytes(4)))
    rtcp_wire = sender.protect_rtcp(sender_report())
    for cut in range(len(wire)):
        with pytest.raises((MalformedPacket, AuthenticationFailed)):
            receiver.unprotect(wire[:cut])
    for cut in range(len(rtcp_wire)):
        with pytest.raises((MalformedPacket, AuthenticationFailed)):
            receiver.unprotect_rtcp(rtcp_wire[:cut])
    assert receiver.unprotect(wire) == rtp_packet(7, csrcs=(1,), extension=bytes(4))
    assert receiver.unprotect_rtcp(rtcp_wire) == sender_report()


def test_malformed_input_to_protect() -> None:
    sender, _ = _pair("AES_CM_128_HMAC_SHA1_80")
    for bad in (b"", b"\x80" * 11, b"\x40" + bytes(20), b"\x91" + bytes(13)):
        with pytest.raises(MalformedPacket):
            sender.protect(bad)
    for bad in (b"\x80\xc8\x00", b"\x00" * 28):
        with pytest.raises(MalformedPacket):
            sender.protect_rtcp(bad)
    assert sender.protected == 0


def test_error_hierarchy() -> None:
    assert issubclass(MalformedPacket, ParseError) and issubclass(MalformedPacket, SRTPError)
    for error in (AuthenticationFailed, ReplayedPacket, MalformedPacket):
        assert issubclass(error, VoIPError)


_EXPECTED = (SRTPError, ParseError)


@pytest.mark.parametrize("suite", ALL_SUITES)
@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_never_crash(suite: str, data: bytes) -> None:
    _, receiver = _pair(suite)
    for unprotect in (receiver.unprotect, receiver.unprotect_rtcp):
        with pytest.raises(_EXPECTED):
            unprotect(data)
    # Shaped like RTP/RTCP version 2, so the checks get past the first octet.
    for unprotect in (receiver.unprotect, receiver.unprotect_rtcp):
        with pytest.raises(_EXPECTED):
            unprotect(bytes([0x80 | (data[:1] or b"\0")[0] & 0x3F]) + data[1:])
    assert receiver.unprotected == 0


@settings(max_examples=200, deadline=None)
@given(
    suite=st.sampled_from(ALL_SUITES),
    sequence=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=64),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=3),
    extension=st.none() | st.binary(min_size=4, max_size=4),
    bit=st.integers(min_value=0),
)
def test_any_flipped_bit_is_caught(
    suite: str,
    sequence: int,
    payload: bytes,
    csrcs: list[int],
    extension: bytes | None,
    bit: int,
) -> None:
    sender, receiver = _pair(suite)
    plain = rtp_packet(sequence, payload=payload, csrcs=tuple(csrcs), extension=extension)
    wire = sender.protect(plain)
    bad = _flip(wire, bit % (len(wire) * 8))
    with pytest.raises(_EXPECTED):
        receiver.unprotect(bad)
    assert receiver.unprotected == 0
    assert receiver.unprotect(wire) == plain  # and the real one still gets through


@settings(max_examples=100, deadline=None)
@given(
    suite=st.sampled_from(ALL_SUITES),
    body=st.binary(max_size=300),
    start=st.integers(0, 0xFFFF),
    steps=st.lists(st.integers(1, 5000), min_size=1, max_size=30),
)
def test_round_trip(suite: str, body: bytes, start: int, steps: list[int]) -> None:
    """Any start, forward steps of any size below 2**15: wraps included, all get through."""
    sender, receiver = _pair(suite)
    sequence = start
    for step in steps:
        plain = rtp_packet(sequence, payload=body)
        wire = sender.protect(plain)
        assert len(wire) == len(plain) + SUITES[suite].rtp_tag_length
        assert receiver.unprotect(wire) == plain
        sequence += step
    report = sender_report() + body[: len(body) // 4 * 4]
    assert receiver.unprotect_rtcp(sender.protect_rtcp(report)) == report
    assert receiver.unprotected == len(steps) + 1


# ---------------------------------------------------------------------------
# SRTCP details [RFC 3711 §3.4, RFC 7714 §9]
# ---------------------------------------------------------------------------


def test_unencrypted_srtcp_is_accepted_when_authentic() -> None:
    """E = 0: sent in the clear, still authenticated; for AES-CM and for GCM."""
    key, salt = _master("AES_CM_128_HMAC_SHA1_80")
    report = sender_report()
    body = report + struct.pack("!I", 7)  # E = 0, index 7
    auth_key = derive_keys(key, salt, LABEL_RTCP_AUTH, 20)
    tag = hmac.new(auth_key, body, hashlib.sha1).digest()[:10]
    receiver = SRTPContext("AES_CM_128_HMAC_SHA1_80", key, salt)
    assert receiver.unprotect_rtcp(body + tag) == report

    key, salt = _master("AEAD_AES_128_GCM")
    gcm = AESGCM(derive_keys(key, salt, LABEL_RTCP_ENCRYPTION, 16))
    session_salt = int.from_bytes(derive_keys(key, salt, LABEL_RTCP_SALT, 12), "big")
    nonce = (session_salt ^ (SSRC << 48) ^ 7).to_bytes(12, "big")
    trailer = struct.pack("!I", 7)
    tag = gcm.encrypt(nonce, b"", report + trailer)
    receiver = SRTPContext("AEAD_AES_128_GCM", key, salt)
    assert receiver.unprotect_rtcp(report + tag + trailer) == report
    with pytest.raises(AuthenticationFailed):
        receiver.unprotect_rtcp(report + tag + struct.pack("!I", 8))


def test_srtcp_index_runs_out_at_2_to_the_31() -> None:
    sender, _ = _pair("AEAD_AES_128_GCM")
    sender._srtcp_index = 0x7FFFFFFF
    sender.protect_rtcp(sender_report())
    with pytest.raises(SRTPError, match="re-key"):
        sender.protect_rtcp(sender_report())


# ---------------------------------------------------------------------------
# Construction: suites, SDES inline keys
# ---------------------------------------------------------------------------


def test_suites() -> None:
    assert set(SUITES) == {
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
        "AEAD_AES_128_GCM",
        "AEAD_AES_256_GCM",
    }
    assert SUITES["AES_CM_128_HMAC_SHA1_32"].rtp_tag_length == 4
    assert SUITES["AES_CM_128_HMAC_SHA1_32"].rtcp_tag_length == 10  # [RFC 4568 §6.2.2]
    assert SUITES["AEAD_AES_256_GCM"].inline_key_length == 44
    assert not set(NULL_CIPHER_SUITES) & set(SUITES)  # never offered by default


def test_from_inline() -> None:
    key, salt = _master("AES_CM_128_HMAC_SHA1_80")
    inline = base64.b64encode(key + salt).decode()
    sender = SRTPContext("AES_CM_128_HMAC_SHA1_80", key, salt)
    wire = sender.protect(rtp_packet(1))
    for text in (inline, f"inline:{inline}", f"inline:{inline}|2^20"):
        assert SRTPContext.from_inline("AES_CM_128_HMAC_SHA1_80", text).unprotect(wire)
    with pytest.raises(ValueError, match="MKI"):
        SRTPContext.from_inline("AES_CM_128_HMAC_SHA1_80", f"{inline}|2^20|1:4")
    with pytest.raises(ValueError, match="base64"):
        SRTPContext.from_inline("AES_CM_128_HMAC_SHA1_80", "not base64!")
    with pytest.raises(ValueError, match="28 octets"):
        SRTPContext.from_inline("AEAD_AES_128_GCM", inline)
    with pytest.raises(ValueError, match="unknown SRTP suite"):
        SRTPContext.from_inline("AES_CM_192_HMAC_SHA1_80", inline)


def test_constructor_checks_lengths() -> None:
    with pytest.raises(ValueError, match="master key"):
        SRTPContext("AEAD_AES_256_GCM", bytes(16), bytes(12))
    with pytest.raises(ValueError, match="master salt"):
        SRTPContext("AEAD_AES_128_GCM", bytes(16), bytes(14))


def test_repr_shows_no_key() -> None:
    key, salt = _master("AES_CM_128_HMAC_SHA1_80")
    text = repr(SRTPContext("AES_CM_128_HMAC_SHA1_80", key, salt))
    assert "AES_CM_128_HMAC_SHA1_80" in text
    assert key.hex() not in text and base64.b64encode(key).decode() not in text


def test_srtp_session_pairs_two_contexts() -> None:
    """Each side protects with its own key and unprotects with the peer's [RFC 4568 §6.1]."""
    alice_key = b"".join(_master("AEAD_AES_128_GCM", seed=1))
    bob_key = b"".join(_master("AEAD_AES_128_GCM", seed=2))
    alice = SRTPSession("AEAD_AES_128_GCM", alice_key, bob_key)
    bob = SRTPSession("AEAD_AES_128_GCM", bob_key, alice_key)
    for sequence in range(65530, 65540):
        assert bob.unprotect(alice.protect(rtp_packet(sequence))) == rtp_packet(sequence)
        assert alice.unprotect(bob.protect(rtp_packet(sequence))) == rtp_packet(sequence)
    assert alice.unprotect_rtcp(bob.protect_rtcp(sender_report())) == sender_report()
    with pytest.raises(AuthenticationFailed):  # our own packets do not pass as the peer's
        alice.unprotect(alice.protect(rtp_packet(100)))
    assert (alice.outbound.protected, alice.inbound.unprotected) == (11, 11)
    assert alice_key.hex() not in repr(alice)
    with pytest.raises(ValueError, match="remote key"):
        SRTPSession("AEAD_AES_128_GCM", alice_key, bob_key[:-1])
