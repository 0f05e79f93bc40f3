"""SDP offer/answer [RFC 3264] and media format matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdp_samples import sdp_body

from voip_core.errors import NegotiationError
from voip_core.sdp import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Connection,
    MediaDescription,
    MediaFormat,
    Origin,
    SessionDescription,
    Timing,
    assign_payload_types,
    create_answer,
    create_offer,
    negotiate_formats,
    reverse_direction,
)

PCMU = MediaFormat(0, "PCMU", 8000)
PCMA = MediaFormat(8, "PCMA", 8000)
G722 = MediaFormat(9, "G722", 8000)
OPUS = MediaFormat(None, "opus", 48000, 2, "useinbandfec=1")
DTMF = MediaFormat(None, "telephone-event", 8000, fmtp="0-16")
CN = MediaFormat(13, "CN", 8000)


def offer_with(media_lines: str, session_lines: str = "") -> SessionDescription:
    return SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n"
        f"t=0 0\r\n{session_lines}{media_lines}"
    )


# --- MediaFormat -----------------------------------------------------------------------------


def test_rtpmap_value() -> None:
    assert PCMU.rtpmap_value == "PCMU/8000"
    assert OPUS.rtpmap_value == "opus/48000/2"
    assert MediaFormat(96, "L16", 44100, 1).rtpmap_value == "L16/44100"


def test_from_rtpmap() -> None:
    assert MediaFormat.from_rtpmap("111 opus/48000/2", "minptime=10") == MediaFormat(
        111, "opus", 48000, 2, "minptime=10"
    )
    assert MediaFormat.from_rtpmap("8 PCMA/8000/1") == PCMA


def test_matches_ignores_case_payload_type_and_fmtp() -> None:
    assert PCMU.matches(MediaFormat(None, "pcmu", 8000, fmtp="x=1"))
    assert OPUS.matches(MediaFormat(111, "OPUS", 48000, 2))
    assert MediaFormat(8, "PCMA", 8000, 1).matches(MediaFormat(8, "PCMA", 8000))


@pytest.mark.parametrize(
    "other",
    [
        MediaFormat(0, "PCMA", 8000),
        MediaFormat(0, "PCMU", 16000),
        MediaFormat(0, "PCMU", 8000, 2),
    ],
)
def test_matches_needs_name_rate_and_channels(other: MediaFormat) -> None:
    assert not PCMU.matches(other)
    assert not other.matches(PCMU)


def test_media_format_is_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        PCMU.payload_type = 3  # type: ignore[misc]
    assert len({PCMU, MediaFormat(0, "PCMU", 8000), PCMA}) == 2


def test_auxiliary_formats() -> None:
    assert DTMF.is_auxiliary
    assert MediaFormat(13, "cn", 8000).is_auxiliary
    assert not PCMU.is_auxiliary


def test_attributes_of_a_format() -> None:
    assert PCMU.attributes() == [Attribute("rtpmap", "0 PCMU/8000")]
    assert MediaFormat(101, "telephone-event", 8000, fmtp="0-16").attributes() == [
        Attribute("rtpmap", "101 telephone-event/8000"),
        Attribute("fmtp", "101 0-16"),
    ]
    with pytest.raises(ValueError):
        OPUS.attributes()


def test_static_payload_table_rfc3551() -> None:
    expected = {
        0: ("PCMU", 8000),
        3: ("GSM", 8000),
        4: ("G723", 8000),
        8: ("PCMA", 8000),
        9: ("G722", 8000),
        13: ("CN", 8000),
        18: ("G729", 8000),
        34: ("H263", 90000),
    }
    for payload_type, (name, rate) in expected.items():
        media_format = STATIC_PAYLOAD_TYPES[payload_type]
        assert (media_format.payload_type, media_format.encoding_name) == (payload_type, name)
        assert media_format.clock_rate == rate
    assert STATIC_PAYLOAD_TYPES[10].channels == 2
    for reserved in (1, 2, 19, 20, 96):
        assert reserved not in STATIC_PAYLOAD_TYPES


# --- negotiate_formats -----------------------------------------------------------------------


def test_offerers_order_and_numbers_win() -> None:
    offered = [
        MediaFormat(8, "PCMA", 8000),
        MediaFormat(111, "opus", 48000, 2, "minptime=10"),
        MediaFormat(0, "PCMU", 8000),
        MediaFormat(126, "telephone-event", 8000, fmtp="0-15"),
    ]
    supported = [OPUS, PCMU, PCMA, DTMF]
    assert negotiate_formats(offered, supported) == offered


def test_unsupported_formats_are_dropped() -> None:
    offered = [
        MediaFormat(18, "G729", 8000),
        MediaFormat(104, "ISAC", 32000),
        MediaFormat(0, "PCMU", 8000),
        MediaFormat(110, "telephone-event", 48000),
        MediaFormat(101, "telephone-event", 8000),
        MediaFormat(13, "CN", 8000),
    ]
    assert negotiate_formats(offered, [PCMU, DTMF]) == [
        MediaFormat(0, "PCMU", 8000),
        MediaFormat(101, "telephone-event", 8000),
    ]
    assert negotiate_formats(offered, [PCMU, DTMF, CN])[-1] == MediaFormat(13, "CN", 8000)


def test_dynamic_payload_types_match_by_name_not_number() -> None:
    # our opus would be 96; theirs is 96 too but means something else
    offered = [MediaFormat(96, "AMR", 8000), MediaFormat(97, "opus", 48000, 2)]
    assert negotiate_formats(offered, [MediaFormat(96, "opus", 48000, 2)]) == [offered[1]]


@pytest.mark.parametrize(
    "offered",
    [
        [MediaFormat(101, "telephone-event", 8000)],
        [MediaFormat(13, "CN", 8000), MediaFormat(101, "telephone-event", 8000)],
        [MediaFormat(18, "G729", 8000)],
        [],
    ],
)
def test_no_common_codec_raises_and_says_what_both_sides_have(
    offered: list[MediaFormat],
) -> None:
    with pytest.raises(NegotiationError) as caught:
        negotiate_formats(offered, [PCMU, DTMF, CN])
    message = str(caught.value)
    assert "supported PCMU/8000, telephone-event/8000, CN/8000" in message
    for media_format in offered:
        assert media_format.rtpmap_value in message
    assert caught.value.status_code == 488


# --- assign_payload_types --------------------------------------------------------------------


def test_assign_payload_types_from_96_avoiding_collisions() -> None:
    formats = [PCMU, OPUS, MediaFormat(96, "AMR", 8000), DTMF, MediaFormat(None, "G726-32", 8000)]
    assigned = assign_payload_types(formats)
    assert [f.payload_type for f in assigned] == [0, 97, 96, 98, 99]
    assert assigned[1] == MediaFormat(97, "opus", 48000, 2, "useinbandfec=1")
    assert formats[1].payload_type is None  # the input is not changed


def test_assign_payload_types_runs_out() -> None:
    assert len(assign_payload_types([DTMF] * 32)) == 32
    with pytest.raises(ValueError):
        assign_payload_types([DTMF] * 33)
    with pytest.raises(ValueError):
        assign_payload_types([MediaFormat(128, "x", 8000)])


# --- directions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_reverse_direction(offered: str, answered: str) -> None:
    assert reverse_direction(offered) == answered


def test_reverse_direction_rejects_other_words() -> None:
    with pytest.raises(ValueError):
        reverse_direction("SENDONLY")


# --- create_offer ----------------------------------------------------------------------------


def test_create_offer_exact_bytes() -> None:
    offer = create_offer([PCMU, OPUS, DTMF], address="192.0.2.10", port=40000, session_id=42)
    assert offer.serialize() == (
        b"v=0\r\n"
        b"o=- 42 42 IN IP4 192.0.2.10\r\n"
        b"s=-\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0 96 97\r\n"
        b"c=IN IP4 192.0.2.10\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:96 opus/48000/2\r\n"
        b"a=fmtp:96 useinbandfec=1\r\n"
        b"a=rtpmap:97 telephone-event/8000\r\n"
        b"a=fmtp:97 0-16\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )
    assert SessionDescription.parse(offer.serialize()) == offer
    assert offer.media[0].media_formats == assign_payload_types([PCMU, OPUS, DTMF])


def test_create_offer_ipv6_options_and_extra_attributes() -> None:
    crypto = Attribute("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
    offer = create_offer(
        [PCMA],
        address="2001:db8::5",
        port=5004,
        ptime=30,
        direction="sendonly",
        protocol="RTP/SAVP",
        extra_attributes=[crypto, Attribute("rtcp-mux")],
    )
    assert offer.origin.address_type == "IP6"
    assert offer.origin.address == "2001:db8::5"
    [media] = offer.media
    assert media.connection == Connection(address_type="IP6", address="2001:db8::5")
    assert media.protocol == "RTP/SAVP"
    assert media.ptime == 30
    assert media.direction == "sendonly"
    assert media.attributes[-2:] == [crypto, Attribute("rtcp-mux")]
    assert media.rtcp_mux
    assert media.crypto[0].suite == "AES_CM_128_HMAC_SHA1_80"


def test_create_offer_random_session_ids() -> None:
    first = create_offer([PCMU], address="192.0.2.1", port=4000)
    second = create_offer([PCMU], address="192.0.2.1", port=4000)
    assert first.origin.session_id != second.origin.session_id
    assert 0 <= first.origin.session_id < 2**62
    assert first.origin.session_version == first.origin.session_id


# --- create_answer ---------------------------------------------------------------------------


def test_answer_to_a_softphone_offer() -> None:
    offer = offer_with(
        "m=audio 30000 RTP/AVP 9 0 8 101\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=ptime:30\r\n"
        "a=sendonly\r\n"
    )
    answer = create_answer(offer, [PCMA, PCMU, DTMF], address="192.0.2.1", port=4000, session_id=7)
    assert answer.serialize() == (
        b"v=0\r\n"
        b"o=- 7 7 IN IP4 192.0.2.1\r\n"
        b"s=-\r\n"
        b"c=IN IP4 192.0.2.1\r\n"
        b"t=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0 8 101\r\n"
        b"c=IN IP4 192.0.2.1\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\n"
        b"a=ptime:30\r\n"
        b"a=recvonly\r\n"
    )


def test_answer_ptime_argument_wins_over_the_offer() -> None:
    offer = offer_with("m=audio 30000 RTP/AVP 0\r\na=ptime:30\r\n")
    answer = create_answer(offer, [PCMU], address="192.0.2.1", port=4000, ptime=20)
    assert answer.media[0].ptime == 20


def test_answer_without_offered_ptime_has_none() -> None:
    offer = offer_with("m=audio 30000 RTP/AVP 0\r\na=ptime:soon\r\n")
    answer = create_answer(offer, [PCMU], address="192.0.2.1", port=4000)
    assert answer.media[0].ptime is None
    assert answer.media[0].get_attribute("ptime") is None


@pytest.mark.parametrize(
    ("session", "media", "answered"),
    [
        ("", "", "sendrecv"),
        ("a=sendonly\r\n", "", "recvonly"),
        ("", "a=recvonly\r\n", "sendonly"),
        ("a=sendrecv\r\n", "a=inactive\r\n", "inactive"),
    ],
)
def test_answer_reverses_the_effective_direction(session: str, media: str, answered: str) -> None:
    offer = offer_with(f"m=audio 30000 RTP/AVP 0\r\n{media}", session)
    answer = create_answer(offer, [PCMU], address="192.0.2.1", port=4000)
    assert answer.media[0].direction == answered


def test_answer_keeps_one_m_line_per_offered_one_and_rejects_the_rest() -> None:
    offer = offer_with(
        "m=video 30002 RTP/AVP 96\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "m=audio 0 RTP/AVP 0\r\n"
        "m=audio 30000 RTP/AVP 18 0\r\n"
        "m=audio 30004 RTP/AVP 0\r\n"
        "m=image 30006 udptl t38\r\n"
    )
    answer = create_answer(offer, [PCMU], address="192.0.2.1", port=4000)
    assert [(m.media, m.port, m.protocol, m.formats) for m in answer.media] == [
        ("video", 0, "RTP/AVP", ["96"]),
        ("audio", 0, "RTP/AVP", ["0"]),
        ("audio", 4000, "RTP/AVP", ["0"]),
        ("audio", 0, "RTP/AVP", ["0"]),
        ("image", 0, "udptl", ["t38"]),
    ]
    assert answer.media[0].attributes == []
    assert answer.connection == Connection(address="192.0.2.1")
    assert SessionDescription.parse(answer.serialize()) == answer


def test_answer_copies_the_offers_timing() -> None:
    offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=3034423619 3042462419\r\nr=7d 1h 0 25h\r\n"
        "m=audio 30000 RTP/AVP 0\r\nc=IN IP4 h\r\n"
    )
    answer = create_answer(offer, [PCMU], address="192.0.2.1", port=4000)
    assert answer.timings == [Timing(start=3034423619, stop=3042462419, repeats=["7d 1h 0 25h"])]
    assert answer.timings[0] is not offer.timings[0]


def test_answer_ipv6_and_extra_attributes() -> None:
    offer = offer_with(
        "m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:X\r\n"
    )
    ours = Attribute("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:Y")
    answer = create_answer(
        offer,
        [PCMU],
        address="2001:db8::1",
        port=4000,
        protocols=("RTP/AVP", "RTP/SAVP"),
        extra_attributes=[ours],
    )
    assert answer.origin == Origin(
        session_id=answer.origin.session_id,
        session_version=answer.origin.session_id,
        address_type="IP6",
        address="2001:db8::1",
    )
    [media] = answer.media
    assert media.protocol == "RTP/SAVP"
    assert media.connection == Connection(address_type="IP6", address="2001:db8::1")
    assert media.attributes[-1] == ours


def test_answer_refuses_a_protocol_we_do_not_serve() -> None:
    offer = offer_with("m=audio 30000 RTP/SAVP 0\r\n")
    with pytest.raises(NegotiationError, match="RTP/SAVP, not one of RTP/AVP"):
        create_answer(offer, [PCMU], address="192.0.2.1", port=4000)


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        ("", "no audio stream offered"),
        ("m=video 30000 RTP/AVP 31\r\n", "no audio stream offered"),
        ("m=audio 0 RTP/AVP 0\r\n", "audio stream 1 is disabled"),
        ("m=audio 3000 RTP/AVP 18\r\n", "offered G729/8000; supported PCMU/8000"),
    ],
)
def test_answer_without_an_acceptable_audio_stream(media: str, reason: str) -> None:
    with pytest.raises(NegotiationError) as caught:
        create_answer(offer_with(media), [PCMU], address="192.0.2.1", port=4000)
    assert reason in str(caught.value)


def test_answer_to_broadworks_dual_audio(vectors: Path) -> None:
    offer = SessionDescription.parse(
        sdp_body(vectors, "broadworks_vsbc_invite_crypto_dual_audio.sip")
    )
    answer = create_answer(offer, [PCMU, PCMA, DTMF], address="192.0.2.1", port=4000)
    plain, secure = answer.media
    # PCMA first: the offerer's order, not ours; PT 116 kept for telephone-event
    assert (plain.port, plain.formats) == (4000, ["8", "0", "116"])
    assert plain.ptime == 20
    assert (secure.port, secure.protocol, secure.formats) == (
        0,
        "RTP/SAVP",
        ["8", "0", "18", "116"],
    )
    assert secure.crypto == []


def test_answer_prefers_the_first_stream_we_can_serve(vectors: Path) -> None:
    offer = SessionDescription.parse(
        sdp_body(vectors, "broadworks_vsbc_invite_crypto_dual_audio.sip")
    )
    answer = create_answer(
        offer, [MediaFormat(18, "G729", 8000)], address="h", port=4000, protocols=["RTP/SAVP"]
    )
    assert [(m.port, m.formats) for m in answer.media] == [
        (0, ["8", "0", "18", "116"]),
        (4000, ["18"]),
    ]
    assert answer.media[1].media_formats == [MediaFormat(18, "G729", 8000, fmtp="annexb=yes")]


def test_answer_to_webrtc_needs_its_profile(vectors: Path) -> None:
    offer = SessionDescription.parse(sdp_body(vectors, "sipjs_invite_websocket.sip"))
    with pytest.raises(NegotiationError, match="UDP/TLS/RTP/SAVPF"):
        create_answer(offer, [OPUS, PCMU], address="192.0.2.1", port=4000)
    answer = create_answer(
        offer, [OPUS, PCMU, DTMF], address="192.0.2.1", port=4000, protocols=["UDP/TLS/RTP/SAVPF"]
    )
    assert [(f.payload_type, f.encoding_name) for f in answer.media[0].media_formats] == [
        (111, "opus"),
        (0, "PCMU"),
        (126, "telephone-event"),
    ]
    assert answer.media[0].media_formats[0].fmtp == "minptime=10;useinbandfec=1"


def test_answer_to_nero_with_lowercase_names(vectors: Path) -> None:
    offer = SessionDescription.parse(sdp_body(vectors, "nero_sipps_invite_sdp.sip"))
    answer = create_answer(offer, [G722, PCMA, PCMU], address="192.0.2.1", port=4000)
    assert answer.media[0].formats == ["0", "8"]
    assert answer.media[0].get_attributes("rtpmap") == [
        Attribute("rtpmap", "0 pcmu/8000"),
        Attribute("rtpmap", "8 pcma/8000"),
    ]


def test_offer_then_answer_round_trip() -> None:
    offer = create_offer([OPUS, PCMU, DTMF], address="192.0.2.10", port=40000)
    wire_offer = SessionDescription.parse(offer.serialize())
    answer = create_answer(wire_offer, [PCMU, DTMF], address="192.0.2.1", port=4000)
    wire_answer = SessionDescription.parse(answer.serialize())
    assert [f.rtpmap_value for f in wire_answer.media[0].media_formats] == [
        "PCMU/8000",
        "telephone-event/8000",
    ]
    assert [f.payload_type for f in wire_answer.media[0].media_formats] == [0, 97]
    assert isinstance(wire_answer.media[0], MediaDescription)
