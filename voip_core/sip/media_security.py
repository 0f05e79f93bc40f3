"""SRTP for a dialog's media: the user agent's policy applied to SDES offers and answers.

A :class:`~voip_core.sip.useragent.UserAgent` has an ``srtp`` policy:

* ``"off"``: plain RTP. An offer of RTP/SAVP is refused (488 with the
  reason); ``a=crypto`` lines in an RTP/AVP offer are ignored.
* ``"offer"``: best effort. Our offers are RTP/AVP with ``a=crypto`` lines
  (what softphones do when SRTP is optional: a peer without SRTP ignores
  them); an answer with a crypto line encrypts the call, one without leaves
  it plain. Offers to us are answered with SRTP when they carry crypto.
* ``"require"``: our offers are RTP/SAVP [RFC 4568 §5.1.1]; an answer
  without a usable crypto line fails the call (CallFailed 488 naming the
  reason, after ACK and BYE), never falls back to plain RTP. An offer
  without crypto is refused with 488.

Keys stay for the dialog: a re-INVITE offers the same tag, suite and key,
and an answer that keeps the remote's key keeps the call's SRTP state
[RFC 4568 §7.1.4]; new keys from the remote make a new inbound context.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from voip_core.errors import NegotiationError, ParseError
from voip_core.sdp.description import Attribute, CryptoAttribute
from voip_core.sdp.sdes import (
    SRTPKeys,
    accept_answer,
    answer_crypto,
    inline_key,
    offer_crypto,
    parse_inline,
)
from voip_core.srtp import SRTPSession

if TYPE_CHECKING:
    from voip_core.sdp.description import MediaDescription
    from voip_core.sip.dialog import Dialog

__all__ = [
    "DEFAULT_SRTP_SUITES",
    "SRTP_POLICIES",
    "accept_security",
    "answer_security",
    "offer_security",
    "srtp_session",
]

logger = logging.getLogger(__name__)

SRTP_POLICIES = ("off", "offer", "require")
#: What we offer, in our order: the suite every SRTP peer has first.
DEFAULT_SRTP_SUITES = (
    "AES_CM_128_HMAC_SHA1_80",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "AES_CM_128_HMAC_SHA1_32",
)


def _crypto_lines(media: MediaDescription) -> list[CryptoAttribute]:
    try:
        return media.crypto
    except ParseError as error:
        raise NegotiationError(f"malformed a=crypto: {error}") from None


def offer_security(dialog: Dialog) -> tuple[str, list[Attribute]]:
    """The transport protocol and ``a=crypto`` lines of our offer (first or re-offer)."""
    keys = dialog._srtp_keys
    if keys is not None:  # the dialog's keys, again [RFC 4568 §7.1.4]
        line = CryptoAttribute(
            tag=dialog._srtp_tag, suite=keys.suite, key_params=[inline_key(keys.local_key)]
        )
        return dialog._srtp_protocol, [line.to_attribute()]
    policy = dialog.user_agent.srtp
    if policy == "off":
        return "RTP/AVP", []
    attributes, offered = offer_crypto(dialog.user_agent.srtp_suites)
    dialog._sdes_offer = offered
    dialog._srtp_protocol = "RTP/SAVP" if policy == "require" else "RTP/AVP"
    return dialog._srtp_protocol, attributes


def answer_security(dialog: Dialog, offered: MediaDescription) -> list[Attribute]:
    """The ``a=crypto`` line answering an offer to us (none for plain RTP).

    Sets the dialog's keys. Raises NegotiationError (the UAS answers 488
    with it) when the policy and the offer cannot agree.
    """
    policy = dialog.user_agent.srtp
    secure = offered.protocol == "RTP/SAVP"
    if policy == "off":
        if secure:
            raise NegotiationError("SRTP offered (RTP/SAVP), and SRTP is off here")
        return []
    lines = _crypto_lines(offered)
    if not lines:
        if policy == "require":
            raise NegotiationError("SRTP is required here, and the offer has no a=crypto")
        if secure:
            raise NegotiationError("RTP/SAVP offered without a=crypto")
        dialog._srtp_keys = None
        return []
    keys = dialog._srtp_keys
    if keys is not None:  # a re-offer: keep our key when the suite stays
        for line in lines:
            if line.tag == dialog._srtp_tag and line.suite == keys.suite:
                try:
                    remote = parse_inline(line)
                except (NegotiationError, ParseError):
                    break
                dialog._srtp_keys = SRTPKeys(keys.suite, keys.local_key, remote)
                answer = CryptoAttribute(
                    tag=line.tag, suite=line.suite, key_params=[inline_key(keys.local_key)]
                )
                return [answer.to_attribute()]
    attribute, keys = answer_crypto(lines, dialog.user_agent.srtp_suites)
    dialog._srtp_keys = keys
    dialog._srtp_tag = int(attribute.value.split()[0]) if attribute.value else 1
    dialog._srtp_protocol = offered.protocol
    return [attribute]


def accept_security(dialog: Dialog, answered: MediaDescription) -> None:
    """Take the answer to our offer: the dialog's keys, or none.

    Raises NegotiationError when SRTP is required (or was running) and the
    answer has no usable crypto line.
    """
    lines = _crypto_lines(answered)
    required = dialog.user_agent.srtp == "require" or dialog._srtp_keys is not None
    if not lines:
        if required:
            raise NegotiationError(
                f"SRTP is required, and the answer is {answered.protocol} without a=crypto"
            )
        return
    keys = dialog._srtp_keys
    if keys is not None:
        line = lines[0]
        if len(lines) != 1 or line.tag != dialog._srtp_tag or line.suite != keys.suite:
            raise NegotiationError("the answer changed the SRTP suite or tag mid-call")
        dialog._srtp_keys = SRTPKeys(keys.suite, keys.local_key, parse_inline(line))
        return
    if dialog._sdes_offer is None:
        if dialog.user_agent.srtp == "off":
            return  # crypto in an answer to a plain offer: ignored
        raise NegotiationError("the answer has a=crypto lines we did not offer")
    dialog._srtp_keys = accept_answer(lines, dialog._sdes_offer)
    dialog._srtp_tag = lines[0].tag


def srtp_session(dialog: Dialog) -> SRTPSession | None:
    """The SRTP for the dialog's keys (None: plain RTP)."""
    keys = dialog._srtp_keys
    dialog._srtp_applied = keys
    if keys is None:
        return None
    logger.info("call %s: SRTP %s", dialog.call_id, keys.suite)
    return SRTPSession(keys.suite, keys.local_key, keys.remote_key)
