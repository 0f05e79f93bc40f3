"""RFC 4475 torture messages and real-world captures, parsed or rejected as the RFC says.

Every file of ``../shared/vectors/rfc4475/`` has one row in :data:`RFC4475`:
where the parser deals with it (``parse_message`` accepts or refuses it,
``validate_request`` / ``validate_response`` accepts or refuses what was
parsed), whether :func:`salvage_for_400` can still build a 400 from the raw
bytes, and what the RFC wants the element to answer, which is for the UAS
layer to send (recorded here, checked there). The notes say which rule each
message tests and where we chose the lenient reading the RFC allows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from voip_core.errors import ParseError
from voip_core.sip import (
    SIPURI,
    AbsoluteURI,
    CSeq,
    SIPRequest,
    SIPResponse,
    VersionNotSupported,
    canonical_name,
    parse_message,
    salvage_for_400,
    validate_request,
    validate_response,
)

# Outcomes:
VALID = "valid"  # parses, and validates
PARSE = "parse"  # parse_message raises ParseError
VERSION = "version"  # parse_message raises VersionNotSupported (ParseError), message attached
VALIDATE = "validate"  # parses; validate_request / validate_response raises ParseError
LENIENT = "lenient"  # the RFC calls it invalid but lets an element accept it; we do


@dataclass(frozen=True)
class Row:
    outcome: str
    salvage: bool | None  # a 400 from salvage_for_400? None: not asked (valid messages)
    answer: str  # what the RFC wants the element to do (the UAS layer's job)
    note: str


RFC4475: dict[str, Row] = {
    # 3.1.1 Valid messages: must parse.
    "wsinv.dat": Row(VALID, None, "process", "3.1.1.1 folding, LWS, escaped quotes, compact forms"),
    "intmeth.dat": Row(VALID, None, "501 (unknown method)", "3.1.1.2 every legal character"),
    "esc01.dat": Row(VALID, None, "process", "3.1.1.3 % escapes unescaped once"),
    "escnull.dat": Row(VALID, None, "process", "3.1.1.4 escaped NUL kept, not truncated"),
    "esc02.dat": Row(VALID, None, "501 (unknown method)", "3.1.1.5 % that is not an escape"),
    "lwsdisp.dat": Row(VALID, None, "process", "3.1.1.6 no LWS before '<'"),
    "longreq.dat": Row(VALID, None, "process", "3.1.1.7 long values, 34 Vias"),
    "dblreq.dat": Row(VALID, None, "process", "3.1.1.8 octets after Content-Length ignored"),
    "semiuri.dat": Row(VALID, None, "process", "3.1.1.9 ';' in the user part"),
    "transports.dat": Row(VALID, None, "process", "3.1.1.10 unknown transport in Via"),
    "mpart01.dat": Row(VALID, None, "process", "3.1.1.11 binary multipart body"),
    "unreason.dat": Row(VALID, None, "process", "3.1.1.12 UTF-8 reason phrase"),
    "noreason.dat": Row(VALID, None, "process", "3.1.1.13 empty reason phrase"),
    # 3.1.2 Invalid messages.
    "badinv01.dat": Row(VALIDATE, True, "400", "3.1.2.1 ';;,;,,' in Via, ';;;;' in Contact"),
    "clerr.dat": Row(PARSE, True, "400", "3.1.2.2 Content-Length beyond the datagram"),
    "ncl.dat": Row(PARSE, True, "400", "3.1.2.3 negative Content-Length"),
    "scalar02.dat": Row(VALIDATE, True, "400", "3.1.2.4 CSeq > 2**31-1 (and Max-Forwards 300)"),
    "scalarlg.dat": Row(VALIDATE, False, "discard (response)", "3.1.2.5 overlarge CSeq in a 503"),
    "quotbal.dat": Row(VALIDATE, True, "400", "3.1.2.6 unterminated quoted display name"),
    "ltgtruri.dat": Row(PARSE, True, "400", "3.1.2.7 <> around the Request-URI"),
    "lwsruri.dat": Row(PARSE, True, "400", "3.1.2.8 LWS inside the Request-URI"),
    "lwsstart.dat": Row(PARSE, True, "400", "3.1.2.9 double SP in the Request-Line"),
    "trws.dat": Row(PARSE, True, "400", "3.1.2.10 trailing SP on the Request-Line"),
    "escruri.dat": Row(VALIDATE, True, "400", "3.1.2.11 headers in the Request-URI"),
    "baddate.dat": Row(
        LENIENT, None, "process", "3.1.2.12 Date in EST: RFC allows ignoring it; we never read Date"
    ),
    "regbadct.dat": Row(VALIDATE, True, "400", "3.1.2.13 URI with '?' outside <> in Contact"),
    "badaspec.dat": Row(VALIDATE, True, "400", "3.1.2.14 LWS inside <> in To"),
    "baddn.dat": Row(
        VALIDATE, True, "400", "3.1.2.15 ',' in unquoted display names; no blank line"
    ),
    "badvers.dat": Row(VERSION, True, "505 (error.sip_message.create_response(505))", "3.1.2.16"),
    "mismatch01.dat": Row(VALIDATE, True, "400", "3.1.2.17 CSeq method differs from OPTIONS"),
    "mismatch02.dat": Row(VALIDATE, True, "501 or 400", "3.1.2.18 CSeq method differs"),
    "bigcode.dat": Row(PARSE, False, "discard (response)", "3.1.2.19 status code 4294967301"),
    # 3.2 Transaction layer.
    "badbranch.dat": Row(VALID, None, "transaction layer: 400 or RFC 2543 matching", "3.2.1"),
    # 3.3 Application layer: the parser must accept the syntax; the UAS answers.
    "insuf.dat": Row(
        VALIDATE, False, "400 via request.create_response (it copies what exists)", "3.3.1"
    ),
    "unkscm.dat": Row(VALID, None, "416", "3.3.2 unknown Request-URI scheme"),
    "novelsc.dat": Row(VALID, None, "416", "3.3.3 soap.beep Request-URI"),
    "unksm2.dat": Row(VALID, None, "registrar: 400", "3.3.4 isbn:, http:, name: URIs"),
    "bext01.dat": Row(VALID, None, "420 with Unsupported", "3.3.5 Require / Proxy-Require"),
    "invut.dat": Row(VALID, None, "415", "3.3.6 unknown Content-Type"),
    "regaut01.dat": Row(VALID, None, "401 or 405", "3.3.7 unknown Authorization scheme"),
    "multi01.dat": Row(VALIDATE, True, "400", "3.3.8 two CSeq, Call-ID, To, From"),
    "mcl01.dat": Row(PARSE, True, "400 (UDP) / close (TCP)", "3.3.9 two Content-Length values"),
    "bcast.dat": Row(VALID, None, "discard (UA)", "3.3.10 broadcast Via in a 200"),
    "zeromf.dat": Row(VALID, None, "process (endpoint)", "3.3.11 Max-Forwards 0"),
    "cparam01.dat": Row(VALID, None, "200", "3.3.12 contact-param outside <>"),
    "cparam02.dat": Row(VALID, None, "200", "3.3.13 url-parameter inside <>"),
    "regescrt.dat": Row(VALID, None, "200", "3.3.14 escaped header in a Contact URI"),
    "sdp01.dat": Row(VALID, None, "406 or 400", "3.3.15 Accept without application/sdp"),
    # 3.4 Backward compatibility.
    "inv2543.dat": Row(VALID, None, "process", "3.4.1 RFC 2543: no branch, tag, Max-Forwards, l"),
    # In the archive, described nowhere: no SIP-Version, a header line without ':'.
    "test.dat": Row(PARSE, False, "none defined", "unlisted"),
}


def _fields(message: SIPRequest | SIPResponse) -> tuple[object, ...]:
    """What a serialise-parse round trip keeps: all but a Content-Length it had to add."""
    headers = [(name, value) for name, value in message.headers if name != "Content-Length"]
    return (message.start_line, headers, message.body)


def _validate(message: SIPRequest | SIPResponse) -> None:
    if isinstance(message, SIPRequest):
        validate_request(message)
    else:
        validate_response(message)


def test_the_table_covers_the_manifest(vectors: Path) -> None:
    manifest = json.loads((vectors / "rfc4475" / "manifest.json").read_text())
    assert set(RFC4475) == set(manifest["files"]) | set(manifest["unlisted"])
    for name, entry in manifest["files"].items():
        expected, row = entry["expected"], RFC4475[name]
        if expected == "valid":  # 3.1.1 and 3.4.1 must be accepted
            assert row.outcome == VALID, name
        elif expected == "invalid":  # 3.1.2: refused, or accepted where the RFC allows it
            assert row.outcome in (PARSE, VERSION, VALIDATE, LENIENT), name
        assert (vectors / "rfc4475" / name).stat().st_size == entry["size"]


@pytest.mark.parametrize("name", sorted(RFC4475))
def test_rfc4475_message(vectors: Path, name: str) -> None:
    data = (vectors / "rfc4475" / name).read_bytes()
    row = RFC4475[name]
    if row.outcome in (PARSE, VERSION):
        with pytest.raises(ParseError) as caught:
            parse_message(data)
        assert isinstance(caught.value, VersionNotSupported) == (row.outcome == VERSION)
    else:
        message = parse_message(data)
        if row.outcome == VALIDATE:
            with pytest.raises(ParseError):
                _validate(message)
        else:
            _validate(message)
            check = CHECKS.get(name)
            if check is not None:
                check(message)
            # What we accept, we write back and read again unchanged.
            again = parse_message(message.serialize())
            assert _fields(again) == _fields(message)
    if row.salvage is not None:
        salvaged = salvage_for_400(data, to_tag="salvage")
        if row.salvage:
            assert salvaged is not None
            assert salvaged.status_code == 400
            assert salvaged.reason.startswith("Bad Request (")
            assert salvaged.headers.get_all("Via")
            assert parse_message(salvaged.serialize()).start_line == salvaged.start_line
        else:
            assert salvaged is None


def test_rfc4475_version_error_carries_the_request(vectors: Path) -> None:
    with pytest.raises(VersionNotSupported) as caught:
        parse_message((vectors / "rfc4475" / "badvers.dat").read_bytes())
    request = caught.value.sip_message
    assert isinstance(request, SIPRequest)
    response = request.create_response(505, to_tag="v")
    assert response.status_code == 505
    assert response.call_id == "badvers.31417@c.example.com"


def test_rfc4475_invalid_requests_still_get_a_400_from_what_parsed(vectors: Path) -> None:
    for name, row in RFC4475.items():
        if row.outcome != VALIDATE:
            continue
        message = parse_message((vectors / "rfc4475" / name).read_bytes())
        if not isinstance(message, SIPRequest):
            continue
        try:
            validate_request(message)
        except ParseError as error:
            response = message.create_response(400, "Bad Request", to_tag="x")
            assert response.status_code == 400, (name, error)
            assert response.headers.get_all("Via") == message.headers.get_all("Via")


# Per-message facts the RFC states ------------------------------------------------------------


def _wsinv(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest)
    assert isinstance(message.uri, SIPURI)
    assert message.uri.parameters == {"unknownparam": None}
    assert [via.transport for via in message.via] == ["UDP", "TCP", "UDP"]
    assert message.via[1].branch == "z9hG4bK9ikj8"
    assert message.via[2].host == "192.168.255.111"
    assert message.max_forwards == 68
    assert message.cseq == CSeq(9, "INVITE")
    assert message.from_header.display_name == 'J Rosenberg \\"'
    assert message.from_header.tag == "98asjd8"
    assert message.to.tag == "1918181833n"
    assert message.headers.get("s") == ""
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = message.contact
    assert contact.display_name == 'Quoted string ""'
    assert contact.parameters == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    (route,) = message.route
    assert isinstance(route.uri, SIPURI)
    assert route.uri.parameters == {
        "lr": None,
        "unknownwith": "value",
        "unknown-no-value": None,
    }
    assert len(message.body) == 150


def _intmeth(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.cseq.method == message.method
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_header.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_header.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert message.via[0].branch == "z9hG4bK-.!%66*_+`'~"


def _esc01(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest)
    assert isinstance(message.uri, SIPURI) and message.uri.user == "sips:user@example.com"
    assert isinstance(message.to.uri, SIPURI) and message.to.uri.user == "user"
    assert isinstance(message.from_header.uri, SIPURI)
    assert message.from_header.uri.user == "I have spaces"
    (contact,) = message.contact
    assert isinstance(contact.uri, SIPURI)
    assert contact.uri.user == "caller"
    assert contact.uri.parameters == {"lr": None, "name": "value%41"}


def _escnull(message: SIPRequest | SIPResponse) -> None:
    for address in (message.to, message.from_header):
        assert isinstance(address.uri, SIPURI) and address.uri.user == "null-\x00-null"
    users = [contact.uri.user for contact in message.contact if isinstance(contact.uri, SIPURI)]
    assert users == ["\x00", "\x00\x00"]


def _esc02(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest)
    assert message.method == "RE%47IST%45R"
    assert message.to.display_name == "%Z%45"
    assert len(message.contact) == 2
    assert message.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert message.via[0].branch == "z9hG4bK209%fzsnel234"


def _lwsdisp(message: SIPRequest | SIPResponse) -> None:
    assert message.from_header.display_name == "caller"
    assert message.from_header.tag == "323"


def _longreq(message: SIPRequest | SIPResponse) -> None:
    assert len(message.via) == 34
    assert [via.host for via in message.via[:2]] == ["sip33.example.com", "sip32.example.com"]
    assert message.via[-1].received == "192.0.2.5"
    assert message.to.display_name is not None and "extremeextreme" in message.to.display_name
    assert message.from_header.tag is not None and len(message.from_header.tag) > 100
    assert len(message.body) == 150


def _dblreq(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest)
    assert message.method == "REGISTER"
    assert message.body == b""
    assert b"INVITE" not in message.serialize()


def _semiuri(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest) and isinstance(message.uri, SIPURI)
    assert (message.uri.user, message.uri.host) == ("user;par=u@example.net", "example.com")
    assert message.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def _transports(message: SIPRequest | SIPResponse) -> None:
    assert [via.transport for via in message.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def _mpart01(message: SIPRequest | SIPResponse) -> None:
    assert len(message.body) == 553
    assert b"\x00" in message.body
    assert message.content_type == "multipart/mixed;boundary=7a9cbec02ceef655"


def _unreason(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPResponse)
    assert message.status_code == 200
    assert message.reason.startswith("= 2**3 * 5**2 ")
    assert not message.reason.isascii()


def _noreason(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPResponse)
    assert (message.status_code, message.reason) == (100, "")


def _inv2543(message: SIPRequest | SIPResponse) -> None:
    assert message.via[0].branch is None
    assert message.from_header.tag is None
    assert message.max_forwards is None
    assert "Content-Length" not in message.headers
    assert message.body.startswith(b"v=0\r\n") and message.body.endswith(b"RTP/AVP 0\r\n")


def _badbranch(message: SIPRequest | SIPResponse) -> None:
    assert message.via[0].branch == "z9hG4bK"


def _unkscm(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest)
    assert message.uri == AbsoluteURI("nobodyKnowsThisScheme:totallyopaquecontent")


def _novelsc(message: SIPRequest | SIPResponse) -> None:
    assert isinstance(message, SIPRequest) and isinstance(message.uri, AbsoluteURI)
    assert message.uri.scheme == "soap.beep"


def _unksm2(message: SIPRequest | SIPResponse) -> None:
    assert message.to.uri == AbsoluteURI("isbn:2983792873")
    assert message.from_header.uri == AbsoluteURI("http://www.example.com")
    assert [contact.uri for contact in message.contact] == [AbsoluteURI("name:John_Smith")]


def _bext01(message: SIPRequest | SIPResponse) -> None:
    assert message.headers.get_all("Require") == [
        "nothingSupportsThis",
        "nothingSupportsThisEither",
    ]
    assert message.headers.get_all("Proxy-Require") == [
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    ]


def _regaut01(message: SIPRequest | SIPResponse) -> None:
    assert message.headers.get_all("Authorization") == ["NoOneKnowsThisScheme opaque-data=here"]


def _zeromf(message: SIPRequest | SIPResponse) -> None:
    assert message.max_forwards == 0


def _bcast(message: SIPRequest | SIPResponse) -> None:
    assert [via.host for via in message.via] == ["192.0.2.198", "255.255.255.255"]


def _cparam01(message: SIPRequest | SIPResponse) -> None:
    (contact,) = message.contact
    assert isinstance(contact.uri, SIPURI)
    assert (contact.uri.parameters, contact.parameters) == ({}, {"unknownparam": None})


def _cparam02(message: SIPRequest | SIPResponse) -> None:
    (contact,) = message.contact
    assert isinstance(contact.uri, SIPURI)
    assert (contact.uri.parameters, contact.parameters) == ({"unknownparam": None}, {})


def _regescrt(message: SIPRequest | SIPResponse) -> None:
    (contact,) = message.contact
    assert isinstance(contact.uri, SIPURI)
    assert contact.uri.headers == {"Route": "<sip:sip.example.com>"}
    assert str(contact.uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


CHECKS: dict[str, Callable[[SIPRequest | SIPResponse], None]] = {
    "wsinv.dat": _wsinv,
    "intmeth.dat": _intmeth,
    "esc01.dat": _esc01,
    "escnull.dat": _escnull,
    "esc02.dat": _esc02,
    "lwsdisp.dat": _lwsdisp,
    "longreq.dat": _longreq,
    "dblreq.dat": _dblreq,
    "semiuri.dat": _semiuri,
    "transports.dat": _transports,
    "mpart01.dat": _mpart01,
    "unreason.dat": _unreason,
    "noreason.dat": _noreason,
    "inv2543.dat": _inv2543,
    "badbranch.dat": _badbranch,
    "unkscm.dat": _unkscm,
    "novelsc.dat": _novelsc,
    "unksm2.dat": _unksm2,
    "bext01.dat": _bext01,
    "regaut01.dat": _regaut01,
    "zeromf.dat": _zeromf,
    "bcast.dat": _bcast,
    "cparam01.dat": _cparam01,
    "cparam02.dat": _cparam02,
    "regescrt.dat": _regescrt,
}


# Real-world messages ---------------------------------------------------------------------------

#: Real messages we refuse, and why. Everything else in realworld/manifest.json must parse.
REALWORLD_REFUSED = {
    # IPv6 addresses without brackets in the Request-URI, Via, From, To and Contact:
    # invalid [RFC 3261 §25.1] and ambiguous (is ":5060" a port? [RFC 5118 §4.10]).
    # Refused rather than guessed; the Via is unusable too, so there is no 400 to send.
    "valid8_ipv6_invite_unbracketed.sip": "Request-URI",
}


def _realworld(vectors: Path) -> dict[str, dict[str, object]]:
    manifest = json.loads((vectors / "realworld" / "manifest.json").read_text())
    files: dict[str, dict[str, object]] = manifest["files"]
    return files


def _realworld_names() -> list[str]:
    from conftest import VECTORS

    path = VECTORS / "realworld" / "manifest.json"
    if not path.is_file():
        return ["(vectors missing)"]
    return sorted(json.loads(path.read_text())["files"])


@pytest.mark.parametrize("name", _realworld_names())
def test_realworld_message(vectors: Path, name: str) -> None:
    entry = _realworld(vectors)[name]
    facts = entry["facts"]
    assert isinstance(facts, dict)
    data = (vectors / "realworld" / name).read_bytes()
    assert len(data) == facts["size"]
    if name in REALWORLD_REFUSED:
        with pytest.raises(ParseError, match=REALWORLD_REFUSED[name]):
            parse_message(data)
        assert salvage_for_400(data) is None
        return
    message = parse_message(data)
    _validate(message)
    if facts["type"] == "request":
        assert isinstance(message, SIPRequest)
        assert message.method == facts["method"]
        assert str(message.uri) == facts["request_uri"]
    else:
        assert isinstance(message, SIPResponse)
        assert (message.status_code, message.reason) == (facts["status"], facts["reason"])
    assert message.call_id == facts["call_id"]
    assert [message.cseq.number, message.cseq.method] == facts["cseq"]
    assert len(message.via) == facts["via_count"]
    names = facts["header_names"]
    assert isinstance(names, list)
    assert [name for name, _ in message.headers] == [canonical_name(name) for name in names]
    content_type = message.content_type
    media_type = None if content_type is None else content_type.partition(";")[0].strip()
    assert media_type == facts["content_type"]
    if facts["content_length_header"] is not None:
        assert message.content_length == facts["content_length_header"]
        assert len(message.body) == facts["content_length_header"]
    else:
        assert len(message.body) == facts["body_length_in_file"]
    # Every typed header the stack reads parses.
    _ = (message.from_header, message.to, message.contact, message.route, message.record_route)
    assert _fields(parse_message(message.serialize())) == _fields(message)


def test_realworld_details(vectors: Path) -> None:
    def load(name: str) -> SIPRequest | SIPResponse:
        return parse_message((vectors / "realworld" / name).read_bytes())

    avaya = load("avaya_cm_200_ok_utf8_tcp.sip")
    assert avaya.from_header.display_name == "Псков-5"
    ipv6 = load("sipp_ipv6_invite_fragmented.sip")
    assert isinstance(ipv6, SIPRequest) and isinstance(ipv6.uri, SIPURI)
    assert ipv6.uri.host == "fd17:625c:f037:2:a00:27ff:feb9:4222" and ipv6.uri.port == 25060
    assert ":" in ipv6.via[0].host
    compact = load("3com_register_compact_headers.sip")
    assert compact.to.uri == SIPURI(user="3170", host="10.1.1.11")
    assert compact.contact[0].parameters == {"dt": "544"}
    ack = load("iptel_ser_ack_branch0.sip")  # no empty line after the header fields
    assert ack.via[0].branch == "0" and ack.body == b""
    assert ack.record_route[0].uri.parameters["lr"] == "on"  # type: ignore[union-attr]
    nero = load("nero_sipps_register.sip")
    assert "rport" in nero.via[0].parameters and nero.via[0].port is None
    linphone = load("linphone_register_authorization_tls.sip")
    assert linphone.contact[0].parameters["+sip.instance"] == (
        '"<urn:uuid:21cd159b-12cf-4b8b-b653-282bb811da23>"'
    )
    assert linphone.headers.get("Authorization", "").startswith("Digest realm=")
    assert len(linphone.headers.get_all("Authorization")) == 1  # never split
    multipart = load("sctp_invite_multipart_isup.sip")
    assert len(multipart.headers.get_all("P-Asserted-Identity")) == 2
