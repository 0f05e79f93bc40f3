"""SDP parsing and serialization [RFC 8866], on real-world bodies and on edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdp_samples import sdp_body

from voip_core.errors import ParseError
from voip_core.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    CryptoAttribute,
    MediaDescription,
    MediaFormat,
    Origin,
    SessionDescription,
    Timing,
)

OFFER = (
    b"v=0\r\n"
    b"o=- 3989412345 3989412346 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

SDP_FILES = [
    "arcor_200_ok_sdp.sip",
    "audiocodes_ipp_invite_tcp.sip",
    "avaya_cm_200_ok_utf8_tcp.sip",
    "belle_sip_android_invite.sip",
    "broadworks_vsbc_invite_crypto_dual_audio.sip",
    "cirpack_183_session_progress_sdp.sip",
    "es_fs_sbc_invite_utf8_tcp.sip",
    "freeswitch_200_ok_webrtc_two_via.sip",
    "imss_invite_t38_capability.sip",
    "microsip_invite_nondefault_port.sip",
    "nero_sipps_invite_proxy_authorization.sip",
    "nero_sipps_invite_sdp.sip",
    "polycom_spip650_invite.sip",
    "sipjs_invite_websocket.sip",
    "sipp_ipv6_invite_fragmented.sip",
    "valid8_ipv6_invite_unbracketed.sip",
    "xlite_200_ok_two_via.sip",
]


def multipart_sdp_body(vectors: Path) -> bytes:
    """The application/sdp part of the SIP-I INVITE (multipart/mixed, RFC 2046)."""
    body = sdp_body(vectors, "sctp_invite_multipart_isup.sip")
    start = body.index(b"v=0")
    return body[start : body.index(b"\r\n--", start) + 2]


def formats_of(media: MediaDescription) -> list[tuple[int | None, str, int, int, str | None]]:
    return [
        (f.payload_type, f.encoding_name, f.clock_rate, f.channels, f.fmtp)
        for f in media.media_formats
    ]


# --- the typical softphone offer -------------------------------------------------------------


def test_softphone_offer_fields() -> None:
    sdp = SessionDescription.parse(OFFER)
    assert sdp.version == 0
    assert sdp.origin == Origin(
        username="-", session_id=3989412345, session_version=3989412346, address="192.0.2.10"
    )
    assert sdp.session_name == "-"
    assert sdp.connection == Connection(address="192.0.2.10")
    assert sdp.timings == [Timing(start=0, stop=0)]
    assert sdp.attributes == []
    [audio] = sdp.media
    assert (audio.media, audio.port, audio.port_count, audio.protocol) == (
        "audio",
        40000,
        None,
        "RTP/AVP",
    )
    assert audio.formats == ["0", "8", "101"]
    assert audio.connection is None
    assert audio.attributes[3] == Attribute("fmtp", "101 0-16")
    assert audio.attributes[-1] == Attribute("sendrecv", None)
    assert formats_of(audio) == [
        (0, "PCMU", 8000, 1, None),
        (8, "PCMA", 8000, 1, None),
        (101, "telephone-event", 8000, 1, "0-16"),
    ]
    assert audio.ptime == 20
    assert audio.maxptime is None
    assert audio.direction == "sendrecv"
    assert sdp.direction_of(audio) == "sendrecv"
    assert audio.rtcp_mux is False
    assert audio.crypto == []


def test_softphone_offer_round_trips_byte_for_byte() -> None:
    sdp = SessionDescription.parse(OFFER)
    assert sdp.serialize() == OFFER
    assert bytes(sdp) == OFFER
    assert str(sdp) == OFFER.decode()
    assert SessionDescription.parse(str(sdp)) == sdp


def test_bare_lf_line_ends_are_accepted_and_written_back_as_crlf() -> None:
    sdp = SessionDescription.parse(OFFER.replace(b"\r\n", b"\n"))
    assert sdp == SessionDescription.parse(OFFER)
    assert sdp.serialize() == OFFER


def test_trailing_whitespace_and_blank_lines_are_tolerated() -> None:
    untidy = OFFER.replace(b"a=ptime:20\r\n", b"a=ptime:20 \t\r\n\r\n").replace(
        b"s=-\r\n", b"s=-  \n"
    )
    assert SessionDescription.parse(untidy + b"\r\n\r\n") == SessionDescription.parse(OFFER)


def test_no_final_line_end_is_accepted() -> None:
    assert SessionDescription.parse(OFFER[:-2]) == SessionDescription.parse(OFFER)


# --- real-world bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("name", SDP_FILES)
def test_realworld_body_parses_and_round_trips(vectors: Path, name: str) -> None:
    body = sdp_body(vectors, name)
    sdp = SessionDescription.parse(body)
    assert sdp.media, "every one of these bodies has an m= line"
    again = SessionDescription.parse(sdp.serialize())
    assert again == sdp
    for media in sdp.media:
        media.media_formats  # noqa: B018 - must not raise on real bodies
        media.crypto  # noqa: B018


@pytest.mark.parametrize("name", [n for n in SDP_FILES if n != "belle_sip_android_invite.sip"])
def test_realworld_body_serializes_to_the_same_bytes(vectors: Path, name: str) -> None:
    # These bodies are in RFC 8866 §5 order with CRLF, so nothing changes.
    body = sdp_body(vectors, name)
    assert SessionDescription.parse(body).serialize() == body


def test_arcor_200_ok(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "arcor_200_ok_sdp.sip"))
    assert sdp.origin.session_id == 754580423
    assert sdp.origin.session_version == 1
    assert sdp.connection == Connection(address="192.168.100.219")
    [audio] = sdp.media
    assert audio.port == 5002
    assert formats_of(audio) == [
        (8, "PCMA", 8000, 1, None),
        (102, "telephone-event", 8000, 1, "0-15,32"),
    ]
    assert audio.ptime == 20
    assert audio.direction == "sendrecv"


def test_broadworks_two_audio_streams_with_crypto(vectors: Path) -> None:
    sdp = SessionDescription.parse(
        sdp_body(vectors, "broadworks_vsbc_invite_crypto_dual_audio.sip")
    )
    assert sdp.origin.username == "BroadWorks"
    plain, secure = sdp.media
    assert (plain.port, plain.protocol, plain.formats) == (
        15536,
        "RTP/AVP",
        ["8", "0", "18", "116"],
    )
    assert (secure.port, secure.protocol) == (15536, "RTP/SAVP")
    # the rtpmap for 18 comes after a=3gOoBTC, and the m= order still wins
    assert [f.encoding_name for f in secure.media_formats] == [
        "PCMA",
        "PCMU",
        "G729",
        "telephone-event",
    ]
    assert secure.media_formats[2].fmtp == "annexb=yes"
    assert Attribute("3gOoBTC", None) in plain.attributes
    assert plain.crypto == []
    crypto = secure.crypto
    assert [c.tag for c in crypto] == [1, 2, 3, 4]
    assert [c.suite for c in crypto] == [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
        "AES_256_CM_HMAC_SHA1_80",
        "AES_256_CM_HMAC_SHA1_32",
    ]
    assert crypto[0].key_params == ["inline:zc409/eT1JuwUPQAswLkF878WJvn5Rpo+aLUt+SI|2^31"]
    assert crypto[0].session_params == []
    assert crypto[2].key_params[0].endswith("QYb7RzdfJE42ezOTcQ==|2^31")
    assert [c.value for c in crypto] == [a.value for a in secure.get_attributes("crypto")]


def test_sipjs_webrtc_offer(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "sipjs_invite_websocket.sip"))
    assert sdp.origin.session_id == 5857782044904022261
    assert sdp.connection is None
    assert sdp.get_attribute("group") == Attribute("group", "BUNDLE audio")
    # the space after the colon is part of the value and survives
    assert sdp.get_attribute("msid-semantic") == Attribute(
        "msid-semantic", " WMS nY3lUME4QrrxqMSKV6s4pwefhY8pYo9GhrH9"
    )
    [audio] = sdp.media
    assert audio.protocol == "UDP/TLS/RTP/SAVPF"
    assert audio.connection == Connection(address="69.17.142.250")
    assert audio.get_attribute("rtcp") == Attribute("rtcp", "9 IN IP4 0.0.0.0")
    assert audio.rtcp_mux is True
    fingerprint = audio.get_attribute("fingerprint")
    assert fingerprint is not None and fingerprint.value is not None
    assert fingerprint.value.startswith("sha-256 21:B5:56:5A:")
    assert len(fingerprint.value.split()[1].split(":")) == 32
    assert len(audio.get_attributes("candidate")) == 3
    assert audio.get_attribute("setup") == Attribute("setup", "actpass")
    assert audio.get_attribute("nonexistent") is None
    formats = audio.media_formats
    assert [f.payload_type for f in formats] == [int(pt) for pt in audio.formats]
    assert (formats[0].encoding_name, formats[0].clock_rate, formats[0].channels) == (
        "opus",
        48000,
        2,
    )
    assert formats[0].fmtp == "minptime=10;useinbandfec=1"
    assert formats[-1].rtpmap_value == "telephone-event/8000"


def test_freeswitch_webrtc_answer(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "freeswitch_200_ok_webrtc_two_via.sip"))
    [audio] = sdp.media
    assert audio.get_attribute("setup") == Attribute("setup", "active")
    assert audio.get_attribute("end-of-candidates") == Attribute("end-of-candidates", None)
    assert audio.get_attributes("ssrc")[1].value == (
        "334768501 msid:FNCWLM1aSwTaD9l82PKhyrLF9Rsy8oEE a0"
    )
    assert audio.media_formats[0].fmtp == (
        "useinbandfec=1; maxaveragebitrate=18000; maxplaybackrate=8000; "
        "sprop-maxcapturerate=8000; minptime=10"
    )


def test_microsip_media_level_connection_and_bandwidths(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "microsip_invite_nondefault_port.sip"))
    assert sdp.session_name == "pjmedia"
    assert sdp.connection is None
    assert sdp.bandwidths == [Bandwidth("AS", 84)]
    assert sdp.attributes == [Attribute("X-nat", "0")]
    [audio] = sdp.media
    assert audio.connection == Connection(address="192.168.20.68")
    assert audio.bandwidths == [Bandwidth("TIAS", 64000)]
    assert audio.get_attribute("rtcp") == Attribute("rtcp", "4005 IN IP4 192.168.20.68")


def test_polycom_direction_from_session_level(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "polycom_spip650_invite.sip"))
    assert sdp.direction == "sendrecv"
    [audio] = sdp.media
    assert audio.direction is None
    assert sdp.direction_of(audio) == "sendrecv"
    assert [f.rtpmap_value for f in audio.media_formats] == [
        "G722/8000",
        "PCMU/8000",
        "PCMA/8000",
        "G729/8000",
        "telephone-event/8000",
    ]


def test_belle_sip_trailing_cr_and_static_payload_types(vectors: Path) -> None:
    body = sdp_body(vectors, "belle_sip_android_invite.sip")
    assert body.endswith(b"tmmbr\r")  # the capture ends in a bare CR
    sdp = SessionDescription.parse(body)
    assert sdp.serialize() == body + b"\n"
    assert sdp.get_attribute("rtcp-xr") == Attribute(
        "rtcp-xr", "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics"
    )
    [audio] = sdp.media
    assert audio.attributes[-1] == Attribute("rtcp-fb", "* ccm tmmbr")
    # 8 and 3 have no rtpmap: RFC 3551 §6 fills them in
    assert formats_of(audio) == [
        (96, "opus", 48000, 2, "useinbandfec=1"),
        (8, "PCMA", 8000, 1, None),
        (3, "GSM", 8000, 1, None),
        (101, "telephone-event", 48000, 1, None),
        (97, "telephone-event", 8000, 1, None),
    ]


def test_imss_static_pcma_and_ptime_30(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "imss_invite_t38_capability.sip"))
    [audio] = sdp.media
    assert formats_of(audio) == [
        (8, "PCMA", 8000, 1, None),
        (103, "G726-32", 8000, 1, None),
        (102, "telephone-event", 8000, 1, "0-15"),
    ]
    assert audio.ptime == 30
    assert audio.get_attribute("cdsc") == Attribute("cdsc", "1 image udptl t38")


def test_cirpack_explicit_channel_count_and_media_bandwidth(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "cirpack_183_session_progress_sdp.sip"))
    assert sdp.origin.session_id == 112047106116
    [audio] = sdp.media
    assert audio.bandwidths == [Bandwidth("AS", 64)]
    assert [f.rtpmap_value for f in audio.media_formats] == ["PCMA/8000", "PCMU/8000"]


def test_nero_lowercase_encoding_names_are_kept(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "nero_sipps_invite_sdp.sip"))
    [audio] = sdp.media
    assert formats_of(audio) == [
        (0, "pcmu", 8000, 1, None),
        (8, "pcma", 8000, 1, None),
        (97, "iLBC", 8000, 1, "mode=20"),
        (2, "G726-32", 8000, 1, None),
        (3, "GSM", 8000, 1, None),
    ]
    assert audio.media_formats[0].matches(MediaFormat(0, "PCMU", 8000))


def test_ipv6_connection_and_bracketed_origin(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "sipp_ipv6_invite_fragmented.sip"))
    assert sdp.origin.address_type == "IP6"
    assert sdp.origin.address == "[fd17:625c:f037:2:a00:27ff:feb9:1521]"  # non-standard, kept
    assert sdp.connection == Connection(
        address_type="IP6", address="fd17:625c:f037:2:a00:27ff:feb9:1521"
    )
    [audio] = sdp.media
    # a=rtpmap for 110 and 111 (not in the m= line) is ignored
    assert [(f.payload_type, f.encoding_name, f.fmtp) for f in audio.media_formats] == [
        (100, "AMR-WB", 'mode-set="0,1,2";octet-align=0'),
        (101, "AMR-WB", 'mode-set="0,1,2";octet-align=1'),
        (0, "PCMU", None),
        (120, "telephone-event", None),
        (121, "telephone-event", None),
    ]
    assert len(audio.get_attributes("des")) == 2


def test_valid8_ipv6(vectors: Path) -> None:
    sdp = SessionDescription.parse(sdp_body(vectors, "valid8_ipv6_invite_unbracketed.sip"))
    assert sdp.connection == Connection(address_type="IP6", address="fe80:0:0:0:21a:a0ff:fe07:32e0")
    assert formats_of(sdp.media[0]) == [(0, "pcmu", 8000, 1, None)]


def test_multipart_sip_i_sdp_part(vectors: Path) -> None:
    sdp = SessionDescription.parse(multipart_sdp_body(vectors))
    [audio] = sdp.media
    assert sdp.connection == Connection(address="10.249.30.145")
    assert [f.rtpmap_value for f in audio.media_formats] == [
        "PCMA/8000",
        "CN/8000",
        "telephone-event/8000",
    ]
    assert (audio.ptime, audio.maxptime) == (20, 20)


# --- session-level details -------------------------------------------------------------------


def full_session() -> SessionDescription:
    return SessionDescription(
        origin=Origin(
            username="jdoe", session_id=2890844526, session_version=2890842807, address="10.47.16.5"
        ),
        session_name="SDP Seminar",
        information="A Seminar on the session description protocol",
        uri="http://www.example.com/seminars/sdp.pdf",
        emails=["j.doe@example.com (Jane Doe)"],
        phones=["+1 617 555-6011"],
        connection=Connection(address="224.2.17.12", ttl=127),
        bandwidths=[Bandwidth("CT", 128)],
        timings=[Timing(start=2873397496, stop=2873404696, repeats=["604800 3600 0 90000"])],
        time_zones="2882844526 -1h 2898848070 0",
        key="prompt",
        attributes=[Attribute("recvonly")],
        media=[
            MediaDescription(port=49170, formats=["0"], information="voice", key="clear:secret"),
            MediaDescription(
                media="video",
                port=51372,
                port_count=2,
                formats=["99"],
                attributes=[Attribute("rtpmap", "99 h263-1998/90000")],
            ),
            MediaDescription(
                media="application",
                port=0,
                protocol="udp",
                formats=["wb"],
                connection=Connection(
                    address_type="IP6", address="FF15::101", number_of_addresses=3
                ),
            ),
        ],
    )


FULL_TEXT = (
    "v=0\r\n"
    "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    "s=SDP Seminar\r\n"
    "i=A Seminar on the session description protocol\r\n"
    "u=http://www.example.com/seminars/sdp.pdf\r\n"
    "e=j.doe@example.com (Jane Doe)\r\n"
    "p=+1 617 555-6011\r\n"
    "c=IN IP4 224.2.17.12/127\r\n"
    "b=CT:128\r\n"
    "t=2873397496 2873404696\r\n"
    "r=604800 3600 0 90000\r\n"
    "z=2882844526 -1h 2898848070 0\r\n"
    "k=prompt\r\n"
    "a=recvonly\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "i=voice\r\n"
    "k=clear:secret\r\n"
    "m=video 51372/2 RTP/AVP 99\r\n"
    "a=rtpmap:99 h263-1998/90000\r\n"
    "m=application 0 udp wb\r\n"
    "c=IN IP6 FF15::101/3\r\n"
)


def test_every_line_type_serializes_in_rfc_order() -> None:
    assert full_session().serialize() == FULL_TEXT.encode()


def test_every_line_type_parses() -> None:
    assert SessionDescription.parse(FULL_TEXT) == full_session()


def test_lines_in_any_order_inside_a_section_are_accepted() -> None:
    shuffled = FULL_TEXT.replace(
        "c=IN IP4 224.2.17.12/127\r\nb=CT:128\r\n", "b=CT:128\r\nc=IN IP4 224.2.17.12/127\r\n"
    ).replace("i=voice\r\nk=clear:secret\r\n", "k=clear:secret\r\ni=voice\r\n")
    assert SessionDescription.parse(shuffled) == full_session()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("c=IN IP4 224.2.36.42/127", Connection(address="224.2.36.42", ttl=127)),
        (
            "c=IN IP4 224.2.1.1/127/3",
            Connection(address="224.2.1.1", ttl=127, number_of_addresses=3),
        ),
        ("c=IN IP6 ::1", Connection(address_type="IP6", address="::1")),
        ("c=IN IP6 2001:db8::1", Connection(address_type="IP6", address="2001:db8::1")),
        (
            "c=IN IP6 FF15::101/3",
            Connection(address_type="IP6", address="FF15::101", number_of_addresses=3),
        ),
        ("c=IN IP4 host.example.com", Connection(address="host.example.com")),
    ],
)
def test_connection_forms(line: str, expected: Connection) -> None:
    text = f"v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n{line}\nt=0 0\n"
    sdp = SessionDescription.parse(text)
    assert sdp.connection == expected
    assert str(sdp).splitlines()[3] == line


def test_connection_for_address_picks_the_address_type() -> None:
    assert Connection.for_address("192.0.2.1") == Connection(address="192.0.2.1")
    assert Connection.for_address("2001:db8::1").address_type == "IP6"


def test_empty_session_name_becomes_a_single_space() -> None:
    # RFC 8866 §5.3 recommends "s= " for no name; phones send it, and "s=" too
    for line in (b"s= \r\n", b"s=\r\n"):
        sdp = SessionDescription.parse(OFFER.replace(b"s=-\r\n", line))
        assert sdp.session_name == " "
        assert b"\r\ns= \r\n" in sdp.serialize()


def test_missing_session_name_becomes_a_dash() -> None:
    sdp = SessionDescription.parse(OFFER.replace(b"s=-\r\n", b""))
    assert sdp.session_name == "-"


def test_missing_timing_gives_no_timings() -> None:
    sdp = SessionDescription.parse(OFFER.replace(b"t=0 0\r\n", b""))
    assert sdp.timings == []
    assert b"t=" not in sdp.serialize()


def test_unknown_type_letters_are_skipped() -> None:
    # y= (SSRC, GB/T 28181) and f= (format hints) appear in the wild
    odd = OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\ny=0100000001\r\n").replace(
        b"a=sendrecv\r\n", b"a=sendrecv\r\nf=v/2/5/25/1/4000\r\n"
    )
    assert SessionDescription.parse(odd) == SessionDescription.parse(OFFER)


def test_origin_username_with_spaces_is_tolerated() -> None:
    sdp = SessionDescription.parse(OFFER.replace(b"o=- ", b"o=Polycom Phone "))
    assert sdp.origin.username == "Polycom Phone"
    assert sdp.origin.session_id == 3989412345


def test_repeat_lines_belong_to_the_preceding_timing() -> None:
    text = "v=0\no=- 1 1 IN IP4 h\ns=-\nt=1 2\nr=7d 1h 0 25h\nt=3 4\nr=1 2 3\nr=4 5 6\n"
    sdp = SessionDescription.parse(text)
    assert sdp.timings == [
        Timing(start=1, stop=2, repeats=["7d 1h 0 25h"]),
        Timing(start=3, stop=4, repeats=["1 2 3", "4 5 6"]),
    ]


def test_non_rtp_formats_are_free_tokens() -> None:
    text = OFFER + b"m=image 0 udptl t38\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    sdp = SessionDescription.parse(text)
    assert sdp.media[1].formats == ["t38"]
    assert sdp.media[1].media_formats == []
    assert sdp.media[2].formats == ["webrtc-datachannel"]


def test_attribute_value_keeps_colons_and_empty_value_differs_from_none() -> None:
    sdp = SessionDescription.parse(OFFER + b"a=fingerprint:sha-256 AB:CD:EF\r\na=x-empty:\r\n")
    media = sdp.media[0]
    assert media.get_attribute("fingerprint") == Attribute("fingerprint", "sha-256 AB:CD:EF")
    assert media.get_attribute("x-empty") == Attribute("x-empty", "")
    assert sdp.serialize().endswith(b"a=x-empty:\r\n")


def test_utf8_text_fields() -> None:
    sdp = SessionDescription.parse(OFFER.replace(b"s=-", "s=Grüße 📞".encode()))
    assert sdp.session_name == "Grüße 📞"
    assert "s=Grüße 📞".encode() in sdp.serialize()


# --- media-level conveniences ----------------------------------------------------------------


def media_with(*attributes: str, formats: str = "0 8 96") -> MediaDescription:
    text = f"v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=audio 4000 RTP/AVP {formats}\n"
    text += "".join(f"a={attribute}\n" for attribute in attributes)
    return SessionDescription.parse(text).media[0]


def test_dynamic_payload_type_without_rtpmap_is_skipped() -> None:
    media = media_with("fmtp:96 mode=30")
    assert [f.payload_type for f in media.media_formats] == [0, 8]


def test_fmtp_extra_spaces_and_duplicates() -> None:
    media = media_with("rtpmap:96 AMR/8000", "fmtp:96  mode-set=7", "fmtp:96 mode-set=2", "fmtp:8")
    assert formats_of(media) == [
        (0, "PCMU", 8000, 1, None),
        (8, "PCMA", 8000, 1, None),
        (96, "AMR", 8000, 1, "mode-set=7"),
    ]


def test_unassigned_static_payload_type_without_rtpmap_is_skipped() -> None:
    assert [f.payload_type for f in media_with(formats="0 19 2").media_formats] == [0]


def test_rtpmap_overrides_the_static_table_and_duplicates_appear_once() -> None:
    media = media_with("rtpmap:0 pcmu/8000", "rtpmap:96 opus/48000/2", formats="0 96 0")
    assert formats_of(media) == [(0, "pcmu", 8000, 1, None), (96, "opus", 48000, 2, None)]


@pytest.mark.parametrize(
    "attribute",
    [
        "rtpmap:96",
        "rtpmap:96 opus",
        "rtpmap:96 opus/fast",
        "rtpmap:96 opus/48000/2/1",
        "rtpmap:x opus/48000",
        "rtpmap:200 opus/48000",
        "rtpmap:96 opus/0",
        "rtpmap:96 /8000",
        "fmtp:abc mode=1",
    ],
)
def test_malformed_rtpmap_or_fmtp_raises_parse_error(attribute: str) -> None:
    media = media_with(attribute)
    with pytest.raises(ParseError) as caught:
        media.media_formats  # noqa: B018
    assert caught.value.line == f"a={attribute}"


@pytest.mark.parametrize(
    ("attributes", "ptime", "maxptime"),
    [
        ((), None, None),
        (("ptime:30",), 30, None),
        (("ptime:20.0", "maxptime:40"), 20, 40),
        (("maxptime:150", "ptime:10"), 10, 150),
    ],
)
def test_ptime_and_maxptime(
    attributes: tuple[str, ...], ptime: int | None, maxptime: int | None
) -> None:
    media = media_with(*attributes)
    assert (media.ptime, media.maxptime) == (ptime, maxptime)


@pytest.mark.parametrize("value", ["", "0", "-20", "abc", "nan", "inf"])
def test_bad_ptime_raises_parse_error(value: str) -> None:
    with pytest.raises(ParseError):
        media_with(f"ptime:{value}").ptime  # noqa: B018


@pytest.mark.parametrize(
    ("session", "media", "effective"),
    [
        ("", "", "sendrecv"),
        ("a=sendonly\n", "", "sendonly"),
        ("a=sendonly\n", "a=inactive\n", "inactive"),
        ("", "a=recvonly\n", "recvonly"),
    ],
)
def test_direction_falls_back_to_session_then_sendrecv(
    session: str, media: str, effective: str
) -> None:
    text = f"v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\n{session}m=audio 4000 RTP/AVP 0\n{media}"
    sdp = SessionDescription.parse(text)
    assert sdp.direction_of(sdp.media[0]) == effective
    assert sdp.media[0].direction == (media[2:-1] or None)


def test_crypto_attribute_with_lifetime_mki_and_session_params() -> None:
    value = (
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4;"
        "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 KDR=1 UNENCRYPTED_SRTCP"
    )
    crypto = CryptoAttribute.parse(value)
    assert crypto.tag == 1
    assert crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert crypto.key_params == [
        "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4",
        "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4",
    ]
    assert crypto.session_params == ["KDR=1", "UNENCRYPTED_SRTCP"]
    assert crypto.value == value
    assert crypto.to_attribute() == Attribute("crypto", value)
    assert media_with(f"crypto:{value}").crypto == [crypto]
    # the master key must not end up in logs through repr()
    assert "PS1uQCVe" not in repr(crypto)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1 AES_CM_128_HMAC_SHA1_80",
        "x AES_CM_128_HMAC_SHA1_80 inline:KEY",
        "1234567890 AES_CM_128_HMAC_SHA1_80 inline:KEY",
        "1 AES-CM inline:KEY",
        "1 AES_CM_128_HMAC_SHA1_80 inlineKEY",
        "1 AES_CM_128_HMAC_SHA1_80 inline:",
        "1 AES_CM_128_HMAC_SHA1_80 inline:KEY;",
    ],
)
def test_malformed_crypto_raises_parse_error(value: str) -> None:
    with pytest.raises(ParseError) as caught:
        CryptoAttribute.parse(value)
    assert caught.value.line == f"a=crypto:{value}"
    with pytest.raises(ParseError):
        media_with(f"crypto:{value}").crypto  # noqa: B018


def test_for_formats_builds_the_lines() -> None:
    media = MediaDescription.for_formats(
        [
            MediaFormat(0, "PCMU", 8000),
            MediaFormat(None, "opus", 48000, 2, "useinbandfec=1"),
            MediaFormat(None, "telephone-event", 8000, fmtp="0-16"),
        ],
        port=4000,
        address="192.0.2.1",
    )
    lines: list[str] = []
    media._append_lines(lines)
    assert lines == [
        "m=audio 4000 RTP/AVP 0 96 97",
        "c=IN IP4 192.0.2.1",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 useinbandfec=1",
        "a=rtpmap:97 telephone-event/8000",
        "a=fmtp:97 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    assert media.ptime == 20
    assert media.direction == "sendrecv"


def test_for_formats_options_and_errors() -> None:
    pcmu = MediaFormat(0, "PCMU", 8000)
    media = MediaDescription.for_formats(
        [pcmu], port=5004, address="::1", protocol="RTP/SAVP", ptime=None, direction="recvonly"
    )
    assert media.connection == Connection(address_type="IP6", address="::1")
    assert media.protocol == "RTP/SAVP"
    assert media.attributes == [Attribute("rtpmap", "0 PCMU/8000"), Attribute("recvonly")]
    with pytest.raises(ValueError):
        MediaDescription.for_formats([], port=4000, address="h")
    with pytest.raises(ValueError):
        MediaDescription.for_formats([pcmu], port=65536, address="h")
    with pytest.raises(ValueError):
        MediaDescription.for_formats([pcmu], port=4000, address="h", direction="both")


# --- rejections ------------------------------------------------------------------------------

REJECTIONS = [
    # (what is changed, into what, the line number reported)
    (b"v=0\r\n", b"", 1),  # must start with v=
    (b"v=0", b"v=1", 1),
    (b"v=0", b" v=0", 1),
    (b"s=-", b"s = -", 3),
    (b"s=-", b"S=-", 3),
    (b"s=-", b"session", 3),
    (b"o=- 3989412345", b"o=- 39894x2345", 2),
    (b"o=- 3989412345 3989412346 IN IP4 192.0.2.10", b"o=- 1 1 IN IP4", 2),
    (b"s=-\r\n", b"s=-\r\ns=again\r\n", 4),
    (b"o=-", b"v=0\r\no=-", 2),
    (b"c=IN IP4 192.0.2.10", b"c=IN IP4", 4),
    (b"c=IN IP4 192.0.2.10", b"c=IN IP4 224.0.0.1/300", 4),
    (b"c=IN IP4 192.0.2.10", b"c=IN IP6 ff15::1/3/2", 4),
    (b"c=IN IP4 192.0.2.10", b"c=IN IP4 224.0.0.1/3/2/1", 4),
    (b"c=IN IP4 192.0.2.10", b"c=IN IP4 224.0.0.1/3/0", 4),
    (b"c=IN IP4 192.0.2.10\r\n", b"c=IN IP4 192.0.2.10\r\nc=IN IP4 192.0.2.11\r\n", 5),
    (b"t=0 0", b"t=0", 5),
    (b"t=0 0", b"t=now 0", 5),
    (b"t=0 0\r\n", b"r=1 2 3\r\nt=0 0\r\n", 5),
    (b"m=audio 40000", b"m=audio 70000", 6),
    (b"m=audio 40000", b"m=audio 4000x", 6),
    (b"m=audio 40000", b"m=audio 40000/0", 6),
    (b"m=audio 40000 RTP/AVP 0 8 101", b"m=audio 40000", 6),
    (b"RTP/AVP 0 8 101", b"RTP/AVP 0 8 128", 6),
    (b"RTP/AVP 0 8 101", b"RTP/AVP 0 PCMA 101", 6),
    (b"RTP/AVP 0 8 101", b"RTP/AVP 0 -8 101", 6),
    (b"a=ptime:20\r\n", b"a=ptime:20\r\nt=0 0\r\n", 12),
    (b"a=ptime:20\r\n", b"a=ptime:20\r\no=- 1 1 IN IP4 h\r\n", 12),
    (b"a=ptime:20\r\n", b"a=ptime:20\r\nc=IN IP4 h\r\nc=IN IP4 h\r\n", 13),
    (b"a=ptime:20", b"a=:20", 11),
    (b"a=ptime:20", b"a=pt ime:20", 11),
    (b"a=ptime:20", b"a=", 11),
    (b"a=ptime:20", b"a=ptime\r20", 11),
]


@pytest.mark.parametrize(("old", "new", "line_number"), REJECTIONS)
def test_rejections_name_the_line(old: bytes, new: bytes, line_number: int) -> None:
    assert old in OFFER
    bad = OFFER.replace(old, new, 1)
    with pytest.raises(ParseError) as caught:
        SessionDescription.parse(bad)
    error = caught.value
    assert error.line_number == line_number
    expected_line = bad.replace(b"\r\n", b"\n").split(b"\n")[line_number - 1].decode()
    assert error.line == expected_line.rstrip(" \t\r")
    assert f"line {line_number}" in str(error)


HUGE = "9" * 5000  # past int()'s 4300-digit limit: must be a ParseError, not ValueError


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"o=- 3989412345", f"o=- {HUGE}".encode()),
        (b"t=0 0", f"t={HUGE} 0".encode()),
        (b"m=audio 40000", f"m=audio {HUGE}".encode()),
        (b"m=audio 40000", f"m=audio 40000/{HUGE}".encode()),
        (b"RTP/AVP 0 8", f"RTP/AVP 0 {HUGE}".encode()),
        (b"c=IN IP4 192.0.2.10", f"c=IN IP4 224.0.0.1/{HUGE}".encode()),
        (b"c=IN IP4 192.0.2.10", f"c=IN IP4 224.0.0.1/1/{HUGE}".encode()),
        (b"t=0 0", f"b=AS:{HUGE}\r\nt=0 0".encode()),
    ],
)
def test_huge_numbers_are_parse_errors(old: bytes, new: bytes) -> None:
    with pytest.raises(ParseError):
        SessionDescription.parse(OFFER.replace(old, new, 1))


@pytest.mark.parametrize(
    ("attribute", "view"),
    [
        (f"rtpmap:96 opus/{HUGE}", "media_formats"),
        (f"rtpmap:{HUGE} opus/8000", "media_formats"),
        (f"fmtp:{HUGE} x=1", "media_formats"),
        (f"ptime:{HUGE}", "ptime"),
        (f"crypto:{HUGE} AES_CM_128_HMAC_SHA1_80 inline:KEY", "crypto"),
    ],
)
def test_huge_numbers_in_attributes_are_parse_errors(attribute: str, view: str) -> None:
    media = media_with(attribute)
    with pytest.raises(ParseError):
        getattr(media, view)


@pytest.mark.parametrize("line", ["b=AS", "b=AS:fast", "b=:64", "b=A S:64"])
def test_bad_bandwidth_lines(line: str) -> None:
    with pytest.raises(ParseError) as caught:
        SessionDescription.parse(OFFER.replace(b"t=0 0", f"{line}\r\nt=0 0".encode()))
    assert (caught.value.line, caught.value.line_number) == (line, 5)


def test_missing_origin() -> None:
    with pytest.raises(ParseError) as caught:
        SessionDescription.parse(
            OFFER.replace(b"o=- 3989412345 3989412346 IN IP4 192.0.2.10\r\n", b"")
        )
    assert caught.value.line_number == 5
    assert caught.value.line == "m=audio 40000 RTP/AVP 0 8 101"
    with pytest.raises(ParseError) as caught:
        SessionDescription.parse(b"v=0\r\ns=-\r\nt=0 0\r\n\r\n")
    assert (caught.value.line, caught.value.line_number) == ("t=0 0", 3)


@pytest.mark.parametrize("data", [b"", b"\r\n", b"  \n\n", ""])
def test_empty_input(data: bytes | str) -> None:
    with pytest.raises(ParseError, match="empty"):
        SessionDescription.parse(data)


def test_bad_utf8_names_line_and_offset() -> None:
    bad = OFFER.replace(b"s=-", b"s=\xff\xfe")
    with pytest.raises(ParseError) as caught:
        SessionDescription.parse(bad)
    assert caught.value.line_number == 3
    assert caught.value.offset == bad.index(b"\xff")
    assert caught.value.line is not None and caught.value.line.startswith("s=")


def test_nul_character_is_rejected() -> None:
    with pytest.raises(ParseError) as caught:
        SessionDescription.parse(OFFER.replace(b"a=ptime:20", b"a=ptime:2\x000"))
    assert caught.value.line_number == 11


def test_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        SessionDescription.parse(b"garbage")
