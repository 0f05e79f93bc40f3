"""Tests for voip_core.stun: RFC 5769 vectors, rejections, properties, demux, loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import need_ipv6
from voip_core.errors import ParseError, VoIPError
from voip_core.rtp import RTPPacket
from voip_core.stun import (
    BINDING,
    ERROR_CODE,
    FINGERPRINT,
    ICE_CONTROLLED,
    MAGIC_COOKIE,
    MESSAGE_INTEGRITY,
    NONCE,
    PRIORITY,
    REALM,
    SOFTWARE,
    USERNAME,
    XOR_MAPPED_ADDRESS,
    StunClass,
    StunMessage,
    StunTransaction,
    answer_request,
    binding_request,
    binding_success,
    classify,
    decode_address,
    decode_error_code,
    decode_unknown_attributes,
    decode_xor_address,
    encode_address,
    encode_error_code,
    encode_unknown_attributes,
    encode_xor_address,
    error_response,
    is_stun,
    long_term_key,
    parse,
    short_term_key,
    verify_fingerprint,
    verify_integrity,
)
from voip_core.stun_client import StunClient, StunError, StunServer, StunTimeout

TIMEOUT = 3.0
NAMES = {
    "SOFTWARE": SOFTWARE,
    "PRIORITY": PRIORITY,
    "ICE-CONTROLLED": ICE_CONTROLLED,
    "USERNAME": USERNAME,
    "MESSAGE-INTEGRITY": MESSAGE_INTEGRITY,
    "FINGERPRINT": FINGERPRINT,
    "XOR-MAPPED-ADDRESS": XOR_MAPPED_ADDRESS,
    "NONCE": NONCE,
    "REALM": REALM,
}
VECTOR_NAMES = [
    "sample_request",
    "sample_ipv4_response",
    "sample_ipv6_response",
    "sample_request_long_term_auth",
]
# RFC 5769 pads with spaces in §2.1-2.3 and with zeros in §2.4 (see the file's padding_note).
PAD_OCTETS = {
    "sample_request": 0x20,
    "sample_ipv4_response": 0x20,
    "sample_ipv6_response": 0x20,
    "sample_request_long_term_auth": 0x00,
}
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")


@functools.cache
def load_vectors(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def load_vector(vectors: Path, name: str) -> dict[str, Any]:
    vector: dict[str, Any] = load_vectors(vectors / "stun_rfc5769.json")["vectors"][name]
    return vector


def vector_key(vector: dict[str, Any]) -> bytes:
    params = vector["params"]
    if "realm" in params:
        return long_term_key(params["username"], params["realm"], params["password_after_saslprep"])
    return short_term_key(params["password"])


def header(message_type: int, length: int, cookie: int = MAGIC_COOKIE, tid: bytes = TID) -> bytes:
    return struct.pack("!HHI", message_type, length, cookie) + tid


def attribute(attribute_type: int, value: bytes, declared: int | None = None) -> bytes:
    size = len(value) if declared is None else declared
    return struct.pack("!HH", attribute_type, size) + value + bytes(-len(value) % 4)


def message_with(*attributes: bytes, message_type: int = 0x0001) -> bytes:
    body = b"".join(attributes)
    return header(message_type, len(body)) + body


# ---------------------------------------------------------------------------
# RFC 5769 test vectors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_decodes(vectors: Path, name: str) -> None:
    vector = load_vector(vectors, name)
    expected = vector["expected"]
    raw = bytes.fromhex(vector["hex"])
    assert len(raw) == vector["length"]
    message = parse(raw)
    assert message.method == BINDING
    wanted_class = StunClass.REQUEST if "Request" in expected["message_type"] else StunClass.SUCCESS
    assert message.message_class is wanted_class
    assert message.transaction_id.hex() == expected["transaction_id"]
    order = [NAMES[entry.split()[0]] for entry in expected["attributes_in_order"]]
    seen = [attribute_type for attribute_type, _ in message.attributes]
    seen.append(MESSAGE_INTEGRITY)
    if message.fingerprint is not None:
        seen.append(FINGERPRINT)
    assert seen == order
    assert message.integrity is not None
    assert message.integrity.hex() == expected["message_integrity"]
    if "fingerprint" in expected:
        assert message.fingerprint == int(expected["fingerprint"], 16)
    if "software" in expected:
        assert message.software == expected["software"]
    if "username" in vector["params"]:
        assert message.username == vector["params"]["username"]
    if "realm" in vector["params"]:
        assert message.realm == vector["params"]["realm"]
        assert message.nonce == vector["params"]["nonce"]
    if "priority" in expected:
        assert message.priority == expected["priority"]
        assert message.ice_controlled == int(expected["ice_controlled_tiebreaker"], 16)
        assert message.ice_controlling is None
        assert not message.use_candidate
    if "xor_mapped_address" in expected:
        mapped = expected["xor_mapped_address"]
        assert message.xor_mapped_address == (mapped["ip"], mapped["port"])
        assert message.mapped_address is None
        value = encode_xor_address((mapped["ip"], mapped["port"]), message.transaction_id)
        assert value.hex() == mapped["raw_value_hex"]


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_integrity_and_fingerprint(vectors: Path, name: str) -> None:
    vector = load_vector(vectors, name)
    raw = bytes.fromhex(vector["hex"])
    key = vector_key(vector)
    assert verify_integrity(raw, key)
    assert not verify_integrity(raw, key[:-1] + bytes([key[-1] ^ 1]))
    assert verify_fingerprint(raw) == ("fingerprint" in vector["expected"])
    if "long_term_key_md5" in vector["expected"]:
        assert key.hex() == vector["expected"]["long_term_key_md5"]


def test_vector_wrong_password_fails(vectors: Path) -> None:
    raw = bytes.fromhex(load_vector(vectors, "sample_request")["hex"])
    assert verify_integrity(raw, short_term_key("VOkJxbRl1RmTxUk/WvJxBt"))
    assert not verify_integrity(raw, short_term_key("VOkJxbRl1RmTxUk/WvJxBr"))


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_flipped_byte_fails_fingerprint_or_integrity(vectors: Path, name: str) -> None:
    vector = load_vector(vectors, name)
    raw = bytearray.fromhex(vector["hex"])
    raw[24] ^= 0x01  # The first octet of the first attribute's value.
    assert not verify_fingerprint(raw)
    assert not verify_integrity(raw, vector_key(vector))


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_reencodes_byte_exact(vectors: Path, name: str) -> None:
    vector = load_vector(vectors, name)
    raw = bytes.fromhex(vector["hex"])
    key = vector_key(vector)
    message = parse(raw)
    fingerprint = message.fingerprint is not None
    again = message.serialize(
        integrity_key=key, fingerprint=fingerprint, pad_octet=PAD_OCTETS[name]
    )
    assert again == raw
    # Zero padding changes the bytes (and so the HMAC and CRC) but not the message.
    zero_padded = message.serialize(integrity_key=key, fingerprint=fingerprint)
    assert (zero_padded == raw) == (PAD_OCTETS[name] == 0)
    assert parse(zero_padded) == message
    assert verify_integrity(zero_padded, key)


# ---------------------------------------------------------------------------
# Header and attribute rejections [RFC 5389 §6, §15]
# ---------------------------------------------------------------------------

MI = attribute(MESSAGE_INTEGRITY, bytes(20))
FP = attribute(FINGERPRINT, bytes(4))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (header(0x0001, 0)[:19], "shorter than the 20-octet header"),
        (header(0x4001, 0), "two leading bits"),
        (header(0x0001, 0, cookie=0x2112A443), "magic cookie"),
        (header(0x0001, 2) + b"\0\0", "not a multiple of 4"),
        (header(0x0001, 4), "does not match"),
        (header(0x0001, 0) + bytes(4), "does not match"),
        (message_with(attribute(USERNAME, b"abcd", declared=5)), "runs past the end"),
        (message_with(attribute(USERNAME, b"", declared=0xFFFF)), "runs past the end"),
        (message_with(attribute(MESSAGE_INTEGRITY, bytes(16))), "MESSAGE-INTEGRITY must be 20"),
        (message_with(attribute(FINGERPRINT, bytes(8))), "FINGERPRINT must be 4"),
        (message_with(FP, attribute(USERNAME, b"late")), "after FINGERPRINT"),
        (message_with(FP, MI), "after FINGERPRINT"),
        (message_with(FP, FP), "after FINGERPRINT"),
    ],
)
def test_malformed_messages_raise_parse_error(data: bytes, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        parse(data)
    assert not verify_integrity(data, b"key")
    assert not verify_fingerprint(data)


def test_rfc3489_message_without_cookie_is_refused() -> None:
    classic = struct.pack("!HH", 0x0001, 0) + bytes(16)
    with pytest.raises(ParseError, match="magic cookie") as caught:
        parse(classic)
    assert caught.value.offset == 4
    assert not is_stun(classic)


def test_attributes_after_message_integrity_are_ignored() -> None:
    message = binding_request(TID).add(USERNAME, b"alice")
    wire = message.serialize(integrity_key=b"key")
    extra = attribute(SOFTWARE, b"sneaky")
    tampered = bytearray(wire + extra)
    struct.pack_into("!H", tampered, 2, len(tampered) - 20)
    parsed = parse(tampered)
    assert parsed.attributes == [(USERNAME, b"alice")]
    assert parsed.software is None
    assert verify_integrity(tampered, b"key")  # The HMAC never covered what follows.


def test_fingerprint_after_integrity_is_excluded_from_hmac_length() -> None:
    message = binding_request(TID, software="voip-core")
    signed = message.serialize(integrity_key=b"key")
    both = message.serialize(integrity_key=b"key", fingerprint=True)
    assert both[20:-8] == signed[20:]  # Same MESSAGE-INTEGRITY with or without FINGERPRINT.
    assert struct.unpack_from("!H", both, 2)[0] == struct.unpack_from("!H", signed, 2)[0] + 8
    crc = zlib.crc32(both[:-8]) ^ 0x5354554E
    assert both[-8:] == struct.pack("!HHI", FINGERPRINT, 4, crc)


@pytest.mark.parametrize(
    ("method", "message_class", "message_type"),
    [
        (BINDING, StunClass.REQUEST, 0x0001),
        (BINDING, StunClass.INDICATION, 0x0011),
        (BINDING, StunClass.SUCCESS, 0x0101),
        (BINDING, StunClass.ERROR, 0x0111),
        (0x003, StunClass.REQUEST, 0x0003),  # TURN Allocate [RFC 5766 §13].
        (0x00B, StunClass.ERROR, 0x011B),  # TURN Refresh error.
        (0xFFF, StunClass.ERROR, 0x3FFF),
        (0x080, StunClass.REQUEST, 0x0200),
    ],
)
def test_message_type_interleaves_method_and_class(
    method: int, message_class: StunClass, message_type: int
) -> None:
    wire = StunMessage(method=method, message_class=message_class, transaction_id=TID).serialize()
    assert wire == header(message_type, 0)
    parsed = parse(wire)
    assert (parsed.method, parsed.message_class) == (method, message_class)


def test_serialize_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match="12 octets"):
        StunMessage(method=BINDING, message_class=StunClass.REQUEST, transaction_id=b"short")
    with pytest.raises(ValueError, match=r"0\.\.0xFFF"):
        StunMessage(method=0x1000, message_class=StunClass.REQUEST, transaction_id=TID)
    with pytest.raises(ValueError, match="computed by serialize"):
        binding_request(TID).add(MESSAGE_INTEGRITY, bytes(20)).serialize()
    with pytest.raises(ValueError, match="computed by serialize"):
        binding_request(TID).add(FINGERPRINT, bytes(4)).serialize()
    with pytest.raises(ValueError, match="exceeds the 16-bit length"):
        binding_request(TID).add(0x8000, bytes(0xFFFC)).serialize(fingerprint=True)
    with pytest.raises(ValueError, match="too long"):
        binding_request(TID).add(0x8000, bytes(0x10000)).serialize()
    with pytest.raises(ValueError, match="pad_octet"):
        binding_request(TID).serialize(pad_octet=256)
    with pytest.raises(ValueError, match="USERNAME"):
        binding_request(TID).add_text(USERNAME, "x" * 513)
    with pytest.raises(ValueError, match="127"):
        binding_request(TID).add_text(SOFTWARE, "x" * 128)


# ---------------------------------------------------------------------------
# Attribute values [RFC 5389 §15]
# ---------------------------------------------------------------------------

ip_addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
ports = st.integers(0, 0xFFFF)
transaction_ids = st.binary(min_size=12, max_size=12)


@given(ip_addresses, ports, transaction_ids)
def test_address_attributes_round_trip(host: str, port: int, tid: bytes) -> None:
    assert decode_address(encode_address((host, port))) == (host, port)
    value = encode_xor_address((host, port), tid)
    assert decode_xor_address(value, tid) == (host, port)
    assert value[1] == (1 if ipaddress.ip_address(host).version == 4 else 2)
    # The XOR hides the address from NATs that rewrite what they recognize [RFC 5389 §15.2].
    assert value[4:] != ipaddress.ip_address(host).packed


def test_address_encodings_by_hand() -> None:
    assert encode_address(("192.0.2.1", 32853)).hex() == "00018055c0000201"
    # Port 0x8055 ^ 0x2112, address 192.0.2.1 ^ the cookie [RFC 5389 §15.2; RFC 5769 §2.2].
    assert encode_xor_address(("192.0.2.1", 32853), TID).hex() == "0001a147e112a643"
    ipv6 = encode_address(("2001:db8::1", 5060))
    assert ipv6.hex() == "000213c4" + "20010db8000000000000000000000001"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (b"\x00\x01\x00", "too short"),
        (bytes.fromhex("0003 0000 00000000"), "family"),
        (bytes.fromhex("0001 0000 0000000000000000"), "must be 8 octets"),
        (bytes.fromhex("0002 0000 00000000"), "must be 20 octets"),
    ],
)
def test_malformed_address_values(value: bytes, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        decode_address(value)
    with pytest.raises(ParseError, match=words):
        decode_xor_address(value, TID)


def test_address_encoding_rejects_non_literals() -> None:
    with pytest.raises(ValueError, match="IP literals"):
        encode_address(("stun.example.com", 3478))
    with pytest.raises(ValueError, match="port"):
        encode_xor_address(("127.0.0.1", 65536), TID)
    with pytest.raises(ValueError, match="12 octets"):
        encode_xor_address(("127.0.0.1", 1), b"short")


@given(st.integers(300, 699), st.text(max_size=127))
def test_error_code_round_trip(code: int, reason: str) -> None:
    value = encode_error_code(code, reason)
    assert value[:2] == b"\0\0"
    assert decode_error_code(value) == (code, reason)


def test_error_code_defaults_and_rejections() -> None:
    assert encode_error_code(420).hex() == "00000414" + b"Unknown Attribute".hex()
    assert decode_error_code(encode_error_code(499)) == (499, "")
    for bad in (299, 700):
        with pytest.raises(ValueError, match=r"300\.\.699"):
            encode_error_code(bad)
    with pytest.raises(ValueError, match="127"):
        encode_error_code(400, "x" * 128)
    with pytest.raises(ParseError, match="too short"):
        decode_error_code(b"\0\0\4")
    with pytest.raises(ParseError, match=r"300\.\.699"):
        decode_error_code(bytes((0, 0, 7, 0)))
    with pytest.raises(ParseError, match=r"300\.\.699"):
        decode_error_code(bytes((0, 0, 4, 100)))
    with pytest.raises(ParseError, match="UTF-8"):
        decode_error_code(bytes((0, 0, 4, 0)) + b"\xff")


def test_unknown_attributes_and_typed_accessor_errors() -> None:
    value = encode_unknown_attributes([0x0031, 0x7FFF, 0x0001])
    assert decode_unknown_attributes(value) == (0x0031, 0x7FFF, 0x0001)
    with pytest.raises(ParseError, match="16-bit types"):
        decode_unknown_attributes(b"\x00\x31\x00")
    message = binding_request(TID).add(PRIORITY, b"\x01\x02").add(USERNAME, b"\xc3\x28")
    with pytest.raises(ParseError, match="must be 4 octets"):
        _ = message.priority
    with pytest.raises(ParseError, match="UTF-8"):
        _ = message.username
    assert message.get(SOFTWARE) is None
    assert message.get_all(PRIORITY) == [b"\x01\x02"]


def test_response_builders() -> None:
    request = binding_request(TID, software="client")
    assert request.software == "client"
    success = binding_success(request, ("::1", 5000, 0, 0), software="server")
    assert success.message_class is StunClass.SUCCESS
    assert success.transaction_id == TID
    assert parse(success.serialize()).xor_mapped_address == ("::1", 5000)
    error = parse(error_response(request, 420, unknown=[0x7FFF, 0x0031]).serialize())
    assert error.message_class is StunClass.ERROR
    assert error.error_code == (420, "Unknown Attribute")
    assert error.unknown_attributes == (0x7FFF, 0x0031)
    plain = error_response(request, 500)
    assert plain.unknown_attributes is None
    assert plain.get_all(ERROR_CODE) == [encode_error_code(500)]
    mapped = binding_request(TID).add_mapped_address(("10.0.0.1", 1))
    assert parse(bytes(mapped)).mapped_address == ("10.0.0.1", 1)


# ---------------------------------------------------------------------------
# Properties: round trips, random input, mutations
# ---------------------------------------------------------------------------

attribute_types = st.integers(0, 0xFFFF).filter(lambda t: t not in (MESSAGE_INTEGRITY, FINGERPRINT))
messages = st.builds(
    lambda method, message_class, tid, attributes: StunMessage(
        method=method, message_class=message_class, transaction_id=tid, attributes=attributes
    ),
    st.integers(0, 0xFFF),
    st.sampled_from(StunClass),
    transaction_ids,
    st.lists(st.tuples(attribute_types, st.binary(max_size=40)), max_size=8),
)


@given(
    messages,
    st.none() | st.binary(min_size=1, max_size=80),
    st.booleans(),
    st.integers(0, 255),
)
def test_round_trip(
    message: StunMessage, key: bytes | None, fingerprint: bool, pad_octet: int
) -> None:
    wire = message.serialize(integrity_key=key, fingerprint=fingerprint, pad_octet=pad_octet)
    assert len(wire) % 4 == 0
    assert is_stun(wire) == (wire[0] < 4)
    parsed = parse(wire)
    assert parsed == message
    assert (parsed.integrity is not None) == (key is not None)
    assert (parsed.fingerprint is not None) == fingerprint
    assert verify_fingerprint(wire) == fingerprint
    if key is None:
        assert not verify_integrity(wire, b"any")
    else:
        assert verify_integrity(wire, key)
        assert not verify_integrity(wire, key + b"x")
    if pad_octet == 0:
        assert parsed.serialize(integrity_key=key, fingerprint=fingerprint) == wire


@given(st.binary(max_size=120))
def test_random_bytes_raise_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(data)
    assert isinstance(verify_integrity(data, b"k"), bool)
    assert isinstance(verify_fingerprint(data), bool)
    assert classify(data) in {"stun", "zrtp", "dtls", "turn-channel", "rtp", "rtcp", "unknown"}


@given(st.integers(0, 0x3FFF), st.binary(max_size=100).map(lambda b: b[: len(b) & ~3]))
def test_random_bodies_behind_a_valid_header(message_type: int, body: bytes) -> None:
    data = header(message_type, len(body)) + body
    try:
        message = parse(data)
    except ParseError:
        return
    # Whatever parsed serializes again, and typed accessors raise only ParseError.
    assert parse(message.serialize()) == message
    for name in ("xor_mapped_address", "mapped_address", "username", "error_code", "priority"):
        with contextlib.suppress(ParseError):
            getattr(message, name)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_every_single_octet_change_fails_parse_or_checks(vectors: Path, name: str) -> None:
    vector = load_vector(vectors, name)
    raw = bytes.fromhex(vector["hex"])
    for index in range(len(raw)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(raw)
            damaged[index] ^= mask
            check_damaged(bytes(damaged), vector)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_every_truncation_fails_parse_or_checks(vectors: Path, name: str) -> None:
    vector = load_vector(vectors, name)
    raw = bytes.fromhex(vector["hex"])
    for size in range(len(raw)):
        with pytest.raises(ParseError):
            parse(raw[:size])
        if size >= 20:  # The same cut with the length field fixed up to match.
            fixed = bytearray(raw[:size])
            struct.pack_into("!H", fixed, 2, size - 20)
            check_damaged(bytes(fixed), vector)


@given(data=st.data())
def test_random_damage_fails_parse_or_checks(vectors: Path, data: st.DataObject) -> None:
    vector = load_vector(vectors, data.draw(st.sampled_from(VECTOR_NAMES), label="vector"))
    damaged = bytearray.fromhex(vector["hex"])
    changes = st.tuples(st.integers(0, len(damaged) - 1), st.integers(1, 255))
    for index, mask in data.draw(st.lists(changes, min_size=1, max_size=4), label="changes"):
        damaged[index] ^= mask
    if damaged != bytearray.fromhex(vector["hex"]):  # Two changes may cancel out.
        check_damaged(bytes(damaged), vector)


def check_damaged(damaged: bytes, vector: dict[str, Any]) -> None:
    """A damaged message must not parse, or must fail a check it passed before."""
    try:
        parse(damaged)
    except ParseError:
        return
    has_fingerprint = "fingerprint" in vector["expected"]
    intact = verify_integrity(damaged, vector_key(vector)) and (
        verify_fingerprint(damaged) or not has_fingerprint
    )
    assert not intact


# ---------------------------------------------------------------------------
# Demultiplexing [RFC 7983 §7, RFC 5761 §4]
# ---------------------------------------------------------------------------


@given(st.integers(0, 255), st.integers(0, 255), st.binary(min_size=18, max_size=40))
def test_classify_by_first_octet(first: int, second: int, rest: bytes) -> None:
    data = bytes((first, second)) + rest
    kind = classify(data)
    if first <= 3:
        assert kind == ("stun" if rest[2:6] == MAGIC_COOKIE.to_bytes(4, "big") else "unknown")
    elif 16 <= first <= 19:
        assert kind == "zrtp"
    elif 20 <= first <= 63:
        assert kind == "dtls"
    elif 64 <= first <= 79:
        assert kind == "turn-channel"
    elif 128 <= first <= 191:
        assert kind == ("rtcp" if 192 <= second <= 223 else "rtp")
    else:
        assert kind == "unknown"


@given(transaction_ids, st.binary(max_size=20))
def test_stun_with_cookie_is_stun(tid: bytes, payload: bytes) -> None:
    wire = binding_request(tid).add(SOFTWARE, payload).serialize()
    assert is_stun(wire)
    assert classify(wire) == "stun"


def test_classify_real_packets() -> None:
    for payload_type in (0, 8, 9, 96, 127):
        for marker in (False, True):
            packet = RTPPacket(
                marker=marker, payload_type=payload_type, sequence_number=1, timestamp=2, ssrc=3
            )
            assert classify(packet.serialize()) == "rtp"
    # RTCP SR, RR, SDES, BYE, APP, RTPFB, PSFB, XR headers (V=2) [RFC 3550 §6.4; RFC 4585].
    for packet_type in range(200, 208):
        assert classify(bytes((0x81, packet_type, 0, 1)) + bytes(4)) == "rtcp"
    assert classify(bytes.fromhex("16fefd") + bytes(10)) == "dtls"  # DTLS 1.2 handshake.
    assert classify(bytes.fromhex("4000 0004") + b"data") == "turn-channel"
    assert classify(bytes.fromhex("1000 0000") + bytes(8)) == "zrtp"
    assert classify(b"") == "unknown"
    assert classify(b"\x80") == "unknown"
    assert classify(header(0x0001, 0)[:19]) == "unknown"
    assert not is_stun(header(0x0001, 0, cookie=0))


# ---------------------------------------------------------------------------
# The retransmission schedule [RFC 5389 §7.2.1], on a virtual clock
# ---------------------------------------------------------------------------


def run_schedule(transaction: StunTransaction, start: float = 0.0) -> tuple[list[float], float]:
    """Drive a transaction with no response: (send times, when it gave up)."""
    transaction.start(start)
    sends = [start]
    while (deadline := transaction.next_deadline) is not None:
        assert not transaction.timer_fired(deadline - 1e-6)  # Early: nothing.
        if transaction.timer_fired(deadline):
            sends.append(deadline)
        elif transaction.timed_out:
            return sends, deadline
    raise AssertionError("the transaction never gave up")


def test_default_schedule_matches_rfc5389() -> None:
    # "requests would be sent at times 0 ms, 500 ms, 1500 ms, 3500 ms, 7500 ms,
    # 15500 ms, and 31500 ms ... timed out [after] 39500 ms" [RFC 5389 §7.2.1].
    transaction = StunTransaction(binding_request(TID))
    sends, gave_up = run_schedule(transaction, start=100.0)
    assert [round(t - 100.0, 6) for t in sends] == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert round(gave_up - 100.0, 6) == 39.5
    assert transaction.attempts == 7
    assert transaction.done and transaction.response is None


@pytest.mark.parametrize(
    ("rto", "rc", "rm", "sends", "gave_up"),
    [
        (0.01, 7, 16, [0, 0.01, 0.03, 0.07, 0.15, 0.31, 0.63], 0.79),
        (1.0, 3, 4, [0, 1, 3], 7),
        (0.5, 1, 2, [0], 1),
    ],
)
def test_configured_schedules(
    rto: float, rc: int, rm: int, sends: list[float], gave_up: float
) -> None:
    seen, end = run_schedule(StunTransaction(binding_request(TID), rto=rto, rc=rc, rm=rm))
    assert [round(t, 6) for t in seen] == sends
    assert round(end, 6) == gave_up


def test_late_timer_does_not_stretch_the_schedule() -> None:
    transaction = StunTransaction(binding_request(TID))
    transaction.start(0.0)
    assert transaction.timer_fired(0.8)  # 300 ms late for the first retransmission.
    assert transaction.next_deadline == 1.5


def test_response_ends_the_transaction() -> None:
    request = binding_request(TID)
    transaction = StunTransaction(request)
    assert transaction.next_deadline is None  # Not started.
    transaction.start(0.0)
    with pytest.raises(RuntimeError):
        transaction.start(0.0)
    other = binding_success(binding_request(bytes(12)), ("127.0.0.1", 1))
    assert transaction.response_received(other) is None
    assert transaction.response_received(request) is None  # A request is not a response.
    wrong_method = StunMessage(method=0x002, message_class=StunClass.SUCCESS, transaction_id=TID)
    assert transaction.response_received(wrong_method) is None
    response = binding_success(request, ("127.0.0.1", 1))
    assert transaction.response_received(response) is response
    assert transaction.done and not transaction.timed_out
    assert transaction.next_deadline is None
    assert not transaction.timer_fired(1000.0)
    assert transaction.response_received(response) is None  # Only once.


@pytest.mark.parametrize("arguments", [{"rto": 0}, {"rto": -1.0}, {"rc": 0}, {"rm": 0}])
def test_schedule_arguments_are_checked(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"rto|rc"):
        StunTransaction(binding_request(TID), **arguments)
    with pytest.raises(ValueError, match=r"rto|rc"):
        StunClient(lambda data, addr: None, **arguments)


# ---------------------------------------------------------------------------
# The server's answers, sans-I/O [RFC 5389 §7.3]
# ---------------------------------------------------------------------------


def test_answer_binding_request() -> None:
    wire = answer_request(binding_request(TID).serialize(), ("203.0.113.5", 4000))
    assert wire is not None and verify_fingerprint(wire)
    answer = parse(wire)
    assert answer.message_class is StunClass.SUCCESS
    assert answer.xor_mapped_address == ("203.0.113.5", 4000)


def test_answer_reports_ipv4_mapped_sources_as_ipv4() -> None:
    wire = answer_request(binding_request(TID).serialize(), ("::ffff:192.0.2.7", 9, 0, 0))
    assert wire is not None
    assert parse(wire).xor_mapped_address == ("192.0.2.7", 9)


def test_answer_unknown_comprehension_required_attribute_with_420() -> None:
    request = binding_request(TID).add(0x7FFE, b"?").add(0x8FFF, b"optional is fine")
    wire = answer_request(request.serialize(), ("127.0.0.1", 1), software="test")
    assert wire is not None
    answer = parse(wire)
    assert answer.message_class is StunClass.ERROR
    assert answer.error_code == (420, "Unknown Attribute")
    assert answer.unknown_attributes == (0x7FFE,)
    assert answer.software == "test"


def test_answer_other_methods_with_400() -> None:
    request = StunMessage(method=0x003, message_class=StunClass.REQUEST, transaction_id=TID)
    wire = answer_request(request.serialize(), ("127.0.0.1", 1))
    assert wire is not None
    assert parse(wire).error_code == (400, "Bad Request")


def test_answer_stays_silent() -> None:
    source = ("127.0.0.1", 1)
    indication = StunMessage(method=BINDING, message_class=StunClass.INDICATION, transaction_id=TID)
    assert answer_request(indication.serialize(), source) is None
    response = binding_success(binding_request(TID), source)
    assert answer_request(response.serialize(), source) is None
    assert answer_request(b"\x80" + bytes(30), source) is None
    broken = bytearray(binding_request(TID).serialize(fingerprint=True))
    broken[-1] ^= 1
    assert answer_request(bytes(broken), source) is None
    assert answer_request(header(0x0001, 4) + bytes(8), source) is None  # Malformed.


# ---------------------------------------------------------------------------
# StunClient and StunServer on loopback
# ---------------------------------------------------------------------------


class Endpoint(asyncio.DatagramProtocol):
    """A UDP socket owned by 'someone else' that offers STUN datagrams to a StunClient."""

    def __init__(self, **client_options: Any) -> None:
        self.client_options = client_options
        self.other: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.client = StunClient(self.transport.sendto, **self.client_options)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if not self.client.datagram_received(data, addr):
            self.other.append(data)


class Responder(asyncio.DatagramProtocol):
    """A scripted peer: records every request and answers with what ``answer`` returns."""

    def __init__(self, answer: Callable[[StunMessage, int], list[bytes]]) -> None:
        self.answer = answer
        self.received: list[tuple[float, StunMessage]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        request = parse(data)
        self.received.append((asyncio.get_running_loop().time(), request))
        for reply in self.answer(request, len(self.received)):
            self.transport.sendto(reply, addr)


Open = Callable[..., Any]


@pytest.fixture
async def open_udp() -> AsyncIterator[Open]:
    """Open datagram endpoints on loopback; closes them all afterwards."""
    transports: list[asyncio.BaseTransport] = []

    async def open_endpoint(factory: Callable[[], Any], host: str = "127.0.0.1") -> Any:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(factory, local_addr=(host, 0))
        transports.append(transport)
        return protocol

    yield open_endpoint
    for transport in transports:
        transport.close()


def address_of(protocol: Any) -> tuple[str, int]:
    sockname = protocol.transport.get_extra_info("sockname")
    return str(sockname[0]), int(sockname[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_client_learns_its_own_address_from_server(open_udp: Open, host: str) -> None:
    if ":" in host:
        need_ipv6()
    server = await open_udp(lambda: StunServer(software="voip-core test"), host)
    endpoint = await open_udp(lambda: Endpoint(rto=0.05, software="client"), host)
    async with asyncio.timeout(TIMEOUT):
        mapped = await endpoint.client.request(address_of(server))
    assert mapped == address_of(endpoint)
    assert server.requests == 1
    # The owner's other traffic still reaches the owner.
    endpoint.transport.sendto(b"\x80\x00 not stun", address_of(endpoint))
    await asyncio.sleep(0.02)
    assert endpoint.other == [b"\x80\x00 not stun"]


async def test_unanswered_request_times_out_after_the_schedule(open_udp: Open) -> None:
    silent = await open_udp(lambda: Responder(lambda request, count: []))
    endpoint = await open_udp(lambda: Endpoint(rto=0.01))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StunTimeout) as caught:
        async with asyncio.timeout(TIMEOUT):
            await endpoint.client.request(address_of(silent))
    elapsed = loop.time() - started
    assert isinstance(caught.value, VoIPError)
    assert caught.value.attempts == 7
    assert caught.value.server == address_of(silent)
    assert elapsed >= 0.79 - 0.005  # 0.63 s for the last send, then 16 RTO.
    assert len(silent.received) == 7
    ids = {request.transaction_id for _, request in silent.received}
    assert len(ids) == 1  # Retransmissions repeat the same transaction.
    times = [when for when, _ in silent.received]
    assert times[-1] - times[0] >= 0.63 - 0.005
    # A response that arrives after giving up is not consumed.
    late = binding_success(silent.received[0][1], address_of(endpoint)).serialize()
    assert not endpoint.client.datagram_received(late, address_of(silent))


async def test_retransmission_recovers_from_loss(open_udp: Open) -> None:
    def third_time_lucky(request: StunMessage, count: int) -> list[bytes]:
        if count < 3:
            return []
        return [binding_success(request, ("198.51.100.1", 4242)).serialize(fingerprint=True)]

    lossy = await open_udp(lambda: Responder(third_time_lucky))
    endpoint = await open_udp(lambda: Endpoint(rto=0.02))
    async with asyncio.timeout(TIMEOUT):
        assert await endpoint.client.request(address_of(lossy)) == ("198.51.100.1", 4242)
    assert len(lossy.received) == 3


async def test_error_response_raises_stun_error(open_udp: Open) -> None:
    def refuse(request: StunMessage, count: int) -> list[bytes]:
        return [error_response(request, 500, "Busy").serialize()]

    peer = await open_udp(lambda: Responder(refuse))
    endpoint = await open_udp(lambda: Endpoint(rto=0.05))
    with pytest.raises(StunError, match="500 Busy") as caught:
        async with asyncio.timeout(TIMEOUT):
            await endpoint.client.request(address_of(peer))
    assert (caught.value.code, caught.value.reason) == (500, "Busy")


async def test_transact_with_server_error_answers(open_udp: Open) -> None:
    server = await open_udp(StunServer)
    endpoint = await open_udp(lambda: Endpoint(rto=0.05))
    request = binding_request().add(0x7FFF, b"unknown")
    async with asyncio.timeout(TIMEOUT):
        response = await endpoint.client.transact(request, address_of(server))
    assert response.error_code == (420, "Unknown Attribute")
    assert response.unknown_attributes == (0x7FFF,)
    with pytest.raises(ValueError, match="only requests"):
        await endpoint.client.transact(binding_success(request, ("::1", 1)), address_of(server))


async def test_integrity_key_discards_unsigned_and_forged_responses(open_udp: Open) -> None:
    key = short_term_key("secret")

    def answers(request: StunMessage, count: int) -> list[bytes]:
        assert request.integrity is not None  # The client signed its request.
        good = binding_success(request, ("192.0.2.9", 9))
        forged = binding_success(request, ("192.0.2.66", 66))
        return [
            forged.serialize(),
            forged.serialize(integrity_key=b"wrong", fingerprint=True),
            good.serialize(integrity_key=key, fingerprint=True),
        ]

    peer = await open_udp(lambda: Responder(answers))
    endpoint = await open_udp(lambda: Endpoint(rto=0.05))
    async with asyncio.timeout(TIMEOUT):
        response = await endpoint.client.transact(
            binding_request(), address_of(peer), integrity_key=key
        )
    assert response.xor_mapped_address == ("192.0.2.9", 9)
    assert endpoint.other == []  # The discarded ones were consumed, not passed on.


async def test_client_passes_on_what_is_not_its_response() -> None:
    sent: list[bytes] = []
    client = StunClient(lambda data, addr: sent.append(data), rto=0.05)
    task = asyncio.create_task(client.request(("127.0.0.1", 9)))
    await asyncio.sleep(0)
    pending = parse(sent[0])
    source = ("127.0.0.1", 9)
    assert not client.datagram_received(b"\x80\x00" + bytes(30), source)  # RTP.
    stranger = binding_success(binding_request(), ("127.0.0.1", 1)).serialize()
    assert not client.datagram_received(stranger, source)  # Another transaction.
    assert not client.datagram_received(pending.serialize(), source)  # A request, not an answer.
    bad = bytearray(binding_success(pending, ("127.0.0.1", 1)).serialize(fingerprint=True))
    bad[-1] ^= 1
    assert client.datagram_received(bytes(bad), source)  # Ours but damaged: dropped.
    assert not task.done()
    client.close()
    with pytest.raises(asyncio.CancelledError):
        await task
