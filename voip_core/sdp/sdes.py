"""SDES: SRTP keys in SDP ``a=crypto`` lines, offered and answered [RFC 4568].

The offerer lists, per suite it accepts, a tag, the suite and its own master
key and salt (``inline:`` base64). The answerer picks the first line it can
use, answers with the same tag and suite and a key of its own [RFC 4568
§5.1.2]; each side then encrypts with its own key and decrypts with the
other's. The offerer finds which of its lines was taken by the tag
[§5.1.3].

What a line may carry that we do not do makes us skip it (and, when no line
is left, refuse the stream, with the reasons): an MKI or several keys
(``|MKI:length``; we keep one key per direction), a key derivation rate other than 0
(``KDR=``), and the UNENCRYPTED_SRTP / UNENCRYPTED_SRTCP /
UNAUTHENTICATED_SRTP and FEC_ORDER session parameters. ``WSH=`` (a replay
window size hint) is accepted and ignored, since our window is larger. A key
lifetime (``|2^20``) must parse but is not enforced: we do not re-key, and
2^20 packets last 5.8 hours of 20 ms audio.

>>> offered, ours = offer_crypto(["AES_CM_128_HMAC_SHA1_80"])
>>> offered[0].value.startswith("1 AES_CM_128_HMAC_SHA1_80 inline:")
True
>>> answer, keys = answer_crypto([CryptoAttribute.parse(offered[0].value)])
>>> keys.suite, keys.remote_key == ours[1].key
('AES_CM_128_HMAC_SHA1_80', True)
>>> accept_answer([CryptoAttribute.parse(answer.value)], ours).local_key == ours[1].key
True
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from voip_core.errors import NegotiationError, ParseError
from voip_core.sdp.description import Attribute, CryptoAttribute

__all__ = [
    "SDES_SUITES",
    "OfferedKey",
    "SRTPKeys",
    "accept_answer",
    "answer_crypto",
    "inline_key",
    "offer_crypto",
    "parse_inline",
]

#: Suites we offer and accept, best first, with (master key, master salt) octets
#: [RFC 4568 §6.2; RFC 7714 §12 for the AEAD suites].
SDES_SUITES: dict[str, tuple[int, int]] = {
    "AEAD_AES_256_GCM": (32, 12),
    "AEAD_AES_128_GCM": (16, 12),
    "AES_CM_128_HMAC_SHA1_80": (16, 14),
    "AES_CM_128_HMAC_SHA1_32": (16, 14),
}

#: Session parameters that ask for something we do not do [RFC 4568 §6.3].
_REFUSED_PARAMETERS = ("UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP", "FEC_ORDER")


@dataclass(frozen=True, slots=True)
class OfferedKey:
    """One of our offered lines: its suite and our master key||salt for it."""

    suite: str
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SRTPKeys:
    """What a finished SDES exchange gives: the suite, our key, the remote's key.

    Each key is master key || master salt. We protect with ``local_key`` and
    unprotect with ``remote_key``.
    """

    suite: str
    local_key: bytes = field(repr=False)
    remote_key: bytes = field(repr=False)


def _new_key(suite: str) -> bytes:
    key_length, salt_length = SDES_SUITES[suite]
    return secrets.token_bytes(key_length + salt_length)


def inline_key(key: bytes) -> str:
    """The ``inline:`` key parameter carrying master key||salt [RFC 4568 §6.1]."""
    return "inline:" + base64.b64encode(key).decode("ascii")


def parse_inline(crypto: CryptoAttribute) -> bytes:
    """The master key||salt of a crypto line we can use.

    Raises:
        NegotiationError: the line asks for something we do not do (the
            message says what), or its suite is not one of ours.
        ParseError: the key parameter is malformed (bad base64, wrong length).
    """
    if crypto.suite not in SDES_SUITES:
        raise NegotiationError(f"suite {crypto.suite} not supported")
    if len(crypto.key_params) != 1:
        raise NegotiationError("several keys (MKI) not supported [RFC 4568 §6.1]")
    for parameter in crypto.session_params:
        name = parameter.split("=", 1)[0].upper()
        if name in _REFUSED_PARAMETERS:
            raise NegotiationError(f"session parameter {name} not supported")
        if name == "KDR" and parameter.split("=", 1)[-1] != "0":
            raise NegotiationError(f"key derivation rate {parameter} not supported (only 0)")
    method, _, info = crypto.key_params[0].partition(":")
    if method.lower() != "inline":
        raise NegotiationError(f"key method {method!r} not supported (only inline)")
    text, *rest = info.split("|")
    if any(":" in part for part in rest):
        raise NegotiationError("an MKI is not supported [RFC 4568 §6.1]")
    for part in rest:
        _lifetime(part)  # must parse; we do not re-key, so it is not enforced
    try:
        key = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ParseError(
            "a=crypto inline key is not base64", line=f"a=crypto:{crypto.value}"
        ) from None
    key_length, salt_length = SDES_SUITES[crypto.suite]
    if len(key) != key_length + salt_length:
        raise ParseError(
            f"a=crypto {crypto.suite} key is {len(key)} octets, not {key_length + salt_length}",
            line=f"a=crypto:{crypto.tag} {crypto.suite} inline:...",
        )
    return key


def _lifetime(text: str) -> int:
    """``2^20`` or ``1048576`` [RFC 4568 §6.1]."""
    try:
        if text.startswith("2^"):
            return int(2 ** int(text[2:]))
        return int(text)
    except ValueError:
        raise ParseError(f"a=crypto key lifetime {text!r} is not a number") from None


def offer_crypto(suites: Sequence[str]) -> tuple[list[Attribute], dict[int, OfferedKey]]:
    """``a=crypto`` lines for ``suites`` (tags 1, 2, ...), each with a fresh key.

    Returns the attributes and our key per tag, to find the one the answer took.
    """
    attributes: list[Attribute] = []
    keys: dict[int, OfferedKey] = {}
    for tag, suite in enumerate(suites, start=1):
        if suite not in SDES_SUITES:
            raise ValueError(f"unknown SRTP suite {suite!r} (known: {', '.join(SDES_SUITES)})")
        key = _new_key(suite)
        keys[tag] = OfferedKey(suite, key)
        attributes.append(
            CryptoAttribute(tag=tag, suite=suite, key_params=[inline_key(key)]).to_attribute()
        )
    return attributes, keys


def answer_crypto(
    offered: Sequence[CryptoAttribute], suites: Sequence[str] = tuple(SDES_SUITES)
) -> tuple[Attribute, SRTPKeys]:
    """Answer the first offered line we can use (the offerer's order) [RFC 4568 §5.1.2].

    Raises:
        NegotiationError: no line can be used; the message gives each line's
            reason (a SIP UAS answers 488 with it).
    """
    reasons: list[str] = []
    for crypto in offered:
        if crypto.suite not in suites:
            reasons.append(f"tag {crypto.tag}: suite {crypto.suite} not supported")
            continue
        try:
            remote = parse_inline(crypto)
        except (NegotiationError, ParseError) as error:
            reasons.append(f"tag {crypto.tag}: {error}")
            continue
        local = _new_key(crypto.suite)
        answer = CryptoAttribute(tag=crypto.tag, suite=crypto.suite, key_params=[inline_key(local)])
        return answer.to_attribute(), SRTPKeys(crypto.suite, local, remote)
    raise NegotiationError("no usable a=crypto line: " + ("; ".join(reasons) or "none offered"))


def accept_answer(answered: Sequence[CryptoAttribute], offered: dict[int, OfferedKey]) -> SRTPKeys:
    """The keys of an answer to our ``offer_crypto`` lines [RFC 4568 §5.1.3].

    Raises:
        NegotiationError: the answer has no crypto line, several, a tag we did
            not offer, or another suite than the tag's.
        ParseError: its key is malformed.
    """
    if len(answered) != 1:
        raise NegotiationError(f"the answer has {len(answered)} a=crypto lines, not 1")
    (crypto,) = answered
    ours = offered.get(crypto.tag)
    if ours is None:
        raise NegotiationError(f"the answer's a=crypto tag {crypto.tag} was not offered")
    if crypto.suite != ours.suite:
        raise NegotiationError(
            f"the answer's tag {crypto.tag} names {crypto.suite}, offered as {ours.suite}"
        )
    return SRTPKeys(crypto.suite, ours.key, parse_inline(crypto))
