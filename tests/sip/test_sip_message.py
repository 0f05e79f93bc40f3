"""SIP messages: headers, typed values, parsing, serialisation, responses, framing [RFC 3261 §7]."""

from __future__ import annotations

import pytest

from voip_core.errors import ParseError
from voip_core.sip import (
    MAX_HEADERS,
    MAX_MESSAGE_SIZE,
    SIPURI,
    AbsoluteURI,
    CSeq,
    Headers,
    KeepAlive,
    NameAddress,
    SIPRequest,
    SIPResponse,
    StreamFramer,
    TelURI,
    VersionNotSupported,
    Via,
    parse_message,
    reason_phrase,
    salvage_for_400,
    split_header_list,
    validate_request,
    validate_response,
)


def crlf(text: str) -> bytes:
    """A message written with LF line ends in the test, CRLF on the wire."""
    return text.replace("\n", "\r\n").encode()


SDP = crlf(
    "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
)

INVITE = (
    crlf(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\n"
        "Via: SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bK1;received=192.0.2.9\n"
        "Max-Forwards: 70\n"
        'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\n'
        "To: Bob <sip:bob@biloxi.example.com>\n"
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
        "CSeq: 314159 INVITE\n"
        "Contact: <sip:alice@pc33.atlanta.example.com>\n"
        "Timestamp: 54\n"
        "Content-Type: application/sdp\n"
        f"Content-Length: {len(SDP)}\n"
        "\n"
    )
    + SDP
)


def request(data: bytes = INVITE) -> SIPRequest:
    message = parse_message(data)
    assert isinstance(message, SIPRequest)
    return message


# Headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compact", "canonical"),
    [
        ("i", "Call-ID"), ("m", "Contact"), ("f", "From"), ("t", "To"), ("v", "Via"),
        ("l", "Content-Length"), ("c", "Content-Type"), ("k", "Supported"), ("s", "Subject"),
        ("e", "Content-Encoding"), ("o", "Event"), ("r", "Refer-To"), ("b", "Referred-By"),
        ("u", "Allow-Events"), ("x", "Session-Expires"), ("a", "Accept-Contact"),
        ("j", "Reject-Contact"), ("d", "Request-Disposition"), ("y", "Identity"),
        ("n", "Identity-Info"),
    ],
)  # fmt: skip
def test_compact_forms_become_canonical_names(compact: str, canonical: str) -> None:
    for spelling in (compact, compact.upper()):
        headers = Headers([(spelling, "value")])
        assert list(headers) == [(canonical, "value")]
        assert headers.get(canonical.upper()) == "value"
        assert headers.get(compact) == "value"
        assert canonical.lower() in headers


def test_headers_keep_order_and_are_case_insensitive() -> None:
    headers = Headers()
    headers.add("X-First", "1")
    headers.add("via", "SIP/2.0/UDP a")
    headers.add("CALL-ID", "c@d")
    headers.add("X-first", "2")
    assert list(headers) == [
        ("X-First", "1"),
        ("Via", "SIP/2.0/UDP a"),
        ("Call-ID", "c@d"),
        ("X-first", "2"),  # unknown names keep their spelling
    ]
    assert headers.get_all("x-FIRST") == ["1", "2"]
    assert headers.get("X-First") == "1"
    assert headers.get("Missing") is None
    assert headers.get("Missing", "default") == "default"
    assert len(headers) == 4
    assert "call-id" in headers and "i" in headers and "Route" not in headers
    assert 3 not in headers  # type: ignore[operator]


def test_set_replaces_all_in_place_and_remove_drops_all() -> None:
    headers = Headers([("X-A", "1"), ("Via", "v1"), ("X-B", "2"), ("v", "v2"), ("X-C", "3")])
    headers.set("VIA", "only")
    assert list(headers) == [("X-A", "1"), ("Via", "only"), ("X-B", "2"), ("X-C", "3")]
    headers.set("New", "x")
    assert list(headers)[-1] == ("New", "x")
    headers.remove("x-a")
    headers.remove("not-there")
    assert [name for name, _ in headers] == ["Via", "X-B", "X-C", "New"]
    headers.insert(0, "Via", "top")
    assert headers.get_all("Via") == ["top", "only"]


def test_copy_is_independent_and_equality_ignores_name_case() -> None:
    headers = Headers([("Via", "a"), ("X-Y", "b")])
    copy = headers.copy()
    copy.add("Z", "c")
    assert len(headers) == 2 and len(copy) == 3
    assert Headers([("v", "a"), ("x-y", "b")]) == headers
    assert Headers([("Via", "a"), ("X-Y", "B")]) != headers
    assert headers != [("Via", "a")]


@pytest.mark.parametrize(
    ("name", "value"),
    [("Bad Name", "x"), ("", "x"), ("Na:me", "x"), ("X", "a\r\nInjected: 1"), ("X", "a\nb"),
     ("X", "\x00")],
)  # fmt: skip
def test_bad_names_and_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="header"):
        Headers().add(name, value)


def test_values_are_stripped() -> None:
    headers = Headers([("Subject", "  hello \t")])
    assert headers.get("Subject") == "hello"


def test_get_all_splits_comma_lists_outside_quotes_and_brackets() -> None:
    headers = Headers(
        [
            ("Contact", '"Doe, John" <sip:j@a.example;x=1,2>;q=0.5, <sip:k@b.example>'),
            ("Contact", "sip:l@c.example"),
            ("Allow", "INVITE, ACK ,BYE"),
            ("Allow", ""),
            ("Route", "<sip:p1;lr>,<sip:p2;lr>"),
            ("Supported", "replaces, timer"),
            ("Accept", "application/sdp, application/pkcs7-mime,  multipart/mixed"),
        ]
    )
    assert headers.get_all("m") == [
        '"Doe, John" <sip:j@a.example;x=1,2>;q=0.5',
        "<sip:k@b.example>",
        "sip:l@c.example",
    ]
    assert headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]
    assert headers.get_all("Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert headers.get_all("k") == ["replaces", "timer"]
    assert headers.get("Contact") == '"Doe, John" <sip:j@a.example;x=1,2>;q=0.5'
    assert len(headers.get_all("Accept")) == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WWW-Authenticate", 'Digest realm="a, b", nonce="n", qop="auth,auth-int"'),
        ("Authorization", 'Digest username="u", response="r"'),
        ("Proxy-Authenticate", "Digest realm=x, nonce=y"),
        ("Proxy-Authorization", "Digest username=u, uri=v"),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("Subject", "lunch, maybe?"),
        ("X-Unknown", "a, b"),
    ],
)
def test_get_all_never_splits_non_list_headers(name: str, value: str) -> None:
    headers = Headers([(name, value), (name, value)])
    assert headers.get_all(name) == [value, value]
    assert headers.get(name) == value


def test_split_header_list_escaped_quote_and_empties() -> None:
    assert split_header_list(r'"a \", b" <sip:x>, ,c,') == [r'"a \", b" <sip:x>', "c"]
    assert split_header_list("  ") == []
    assert split_header_list("<sip:a,b") == ["<sip:a,b"]  # unclosed: kept whole


def test_parsed_cache_is_dropped_on_change() -> None:
    message = request()
    assert message.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    message.headers.set("Call-ID", "new@id")
    assert message.call_id == "new@id"
    assert [via.host for via in message.via] == ["pc33.atlanta.example.com", "proxy.example.com"]
    message.headers.remove("Via")
    assert message.via == []
    message.headers.add("v", "SIP/2.0/UDP [::1]:5070;branch=z9hG4bKx")
    assert message.via[0].host == "::1"
    calls: list[int] = []
    message.headers.parsed("x", lambda headers: calls.append(1) or len(headers))
    message.headers.parsed("x", lambda headers: calls.append(1) or len(headers))
    assert calls == [1]


# Typed values -------------------------------------------------------------------------------


def test_name_addr_with_quoted_display_name_and_ipv6() -> None:
    address = NameAddress.parse('"Bob \\"B\\"" <sip:bob@[::1]:5062;transport=tcp>;tag=abc')
    assert address.display_name == 'Bob "B"'
    assert isinstance(address.uri, SIPURI)
    assert (address.uri.host, address.uri.port, address.uri.transport) == ("::1", 5062, "tcp")
    assert address.parameters == {"tag": "abc"}
    assert address.tag == "abc"
    assert str(address) == '"Bob \\"B\\"" <sip:bob@[::1]:5062;transport=tcp>;tag=abc'
    assert NameAddress.parse(str(address)) == address


def test_name_addr_forms() -> None:
    plain = NameAddress.parse("<sip:a@b>")
    assert (plain.display_name, plain.parameters, plain.tag) == (None, {}, None)
    empty = NameAddress.parse('"" <sip:a@b>')
    assert empty.display_name == ""
    tokens = NameAddress.parse("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>")
    assert tokens.display_name == "token1~` token2'+_ token3*%!.-"
    tight = NameAddress.parse("caller<sip:caller@example.com>;tag=323")  # [RFC 4475 §3.1.1.6]
    assert (tight.display_name, tight.tag) == ("caller", "323")
    utf8 = NameAddress.parse('"Пýтин 永" <sip:540454@maxus.lan>;tag=2B29')
    assert utf8.display_name == "Пýтин 永"
    assert str(utf8) == '"Пýтин 永" <sip:540454@maxus.lan>;tag=2B29'
    tel = NameAddress.parse("<tel:+1-201-555-0123>;tag=x")
    assert isinstance(tel.uri, TelURI)
    other = NameAddress.parse("<http://www.example.com>;tag=3234233")
    assert isinstance(other.uri, AbsoluteURI)


def test_lws_everywhere_it_is_allowed() -> None:
    # [RFC 4475 §3.1.1.1] wsinv, after unfolding.
    address = NameAddress.parse(
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ;'
        " secondparam ; q = 0.33"
    )
    assert address.display_name == 'Quoted string ""'
    assert address.parameters == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}


def test_addr_spec_parameters_belong_to_the_header() -> None:
    # [RFC 3261 §20.10], [RFC 4475 §3.3.12] cparam01 / §3.3.13 cparam02.
    bare = NameAddress.parse("sip:+19725552222@gw1.example.net;unknownparam")
    assert isinstance(bare.uri, SIPURI)
    assert bare.uri.parameters == {} and bare.parameters == {"unknownparam": None}
    bracketed = NameAddress.parse("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert isinstance(bracketed.uri, SIPURI)
    assert bracketed.uri.parameters == {"unknownparam": None} and bracketed.parameters == {}
    spaced = NameAddress.parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert spaced.tag == "1918181833n"
    assert str(bare) == "<sip:+19725552222@gw1.example.net>;unknownparam"


def test_quoted_parameter_values_keep_their_quotes() -> None:
    address = NameAddress.parse(
        '<sip:gbi@82.216.250.246:49949;transport=tls>;+sip.instance="<urn:uuid:21cd;x>";reg-id=1'
    )
    assert address.parameters == {"+sip.instance": '"<urn:uuid:21cd;x>"', "reg-id": "1"}
    unbracketed = NameAddress.parse('sip:a@b;+sip.instance="<urn:x>"')
    assert unbracketed.parameters == {"+sip.instance": '"<urn:x>"'}


@pytest.mark.parametrize(
    "text",
    [
        '"Mr. J. User <sip:j.user@example.com>',  # unterminated quote [RFC 4475 §3.1.2.6]
        '"Watson, Thomas" < sip:t.watson@example.org >',  # LWS in <> [RFC 4475 §3.1.2.14]
        "Watson, Thomas <sip:t.watson@example.org>",  # non-token display [RFC 4475 §3.1.2.15]
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # [RFC 4475 §3.1.2.13]
        '"Joe" <sip:joe@example.org>;;;;',  # [RFC 4475 §3.1.2.1]
        "<sip:a@b",
        "<>",
        "",
        '"x" sip:a@b',
        "<sip:a@b>;tag",  # fine: a flag; see below
    ][:-1],
)
def test_bad_name_addrs(text: str) -> None:
    with pytest.raises(ParseError):
        NameAddress.parse(text)


def test_with_tag_and_with_parameters_copy() -> None:
    address = NameAddress.parse("Bob <sip:bob@b>")
    tagged = address.with_tag("7")
    assert str(tagged) == '"Bob" <sip:bob@b>;tag=7'
    assert address.tag is None
    assert tagged.with_parameters(expires="60").parameters == {"tag": "7", "expires": "60"}


def test_via_simple_and_ipv6() -> None:
    via = Via.parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.0.2.1",
        5060,
        "z9hG4bK776",
    )
    assert via.parameters == {"branch": "z9hG4bK776", "rport": None, "received": "192.0.2.9"}
    assert "rport" in via.parameters and via.rport is None and via.received == "192.0.2.9"
    assert str(via) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9"
    six = Via.parse(
        "SIP/2.0/tls [2001:db8::9]:5061;branch=z9hG4bKa;received=2001:db8::1;rport=5070"
    )
    assert (six.transport, six.host, six.port, six.rport) == ("TLS", "2001:db8::9", 5061, 5070)
    assert six.received == "2001:db8::1"
    assert six.sent_by == "[2001:db8::9]:5061"
    assert (
        str(six) == "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKa;received=2001:db8::1;rport=5070"
    )


def test_via_with_lws_and_unknown_transport() -> None:
    via = Via.parse("SIP  /   2.0 /UDP 192.0.2.2 : 5070 ;branch = 390skdjuw ; maddr=[::1]")
    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "UDP",
        "192.0.2.2",
        5070,
    )
    assert via.parameters == {"branch": "390skdjuw", "maddr": "[::1]"}
    assert Via.parse("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en").transport == "UNKNOWN"
    assert Via.parse("SIP/7.0/UDP c.example.com").protocol == "SIP/7.0"


def test_via_with_parameters() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport")
    answered = via.with_parameters(received="203.0.113.4", rport="34567")
    assert (
        str(answered)
        == "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport=34567;received=203.0.113.4"
    )
    assert via.parameters["rport"] is None


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP 192.0.2.15;;",  # [RFC 4475 §3.1.2.1]
        "SIP/2.0/UDP fe80:0:0:0:21a:a0ff:fe07:32e0:5060;branch=z9hG4bKk",  # unbracketed IPv6
        "SIP/2.0/UDP",
        "SIP/2.0 192.0.2.1",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP [::1;branch=x",
        "SIP/2.0/UDP host;branch=a b",
        ";",
    ],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(ParseError):
        Via.parse(text)


def test_bad_rport_value_raises_on_access() -> None:
    via = Via.parse("SIP/2.0/UDP h;rport=abc")
    with pytest.raises(ParseError):
        _ = via.rport


@pytest.mark.parametrize(
    ("text", "number", "method"),
    [("1 INVITE", 1, "INVITE"), ("0009  INVITE", 9, "INVITE"), ("2147483647 BYE", 2**31 - 1, "BYE"),
     ("0 ACK", 0, "ACK"), ("5\tRE%47IST%45R", 5, "RE%47IST%45R")],
)  # fmt: skip
def test_cseq(text: str, number: int, method: str) -> None:
    cseq = CSeq.parse(text)
    assert (cseq.number, cseq.method) == (number, method)
    assert str(cseq) == f"{number} {method}"


@pytest.mark.parametrize(
    "text",
    ["2147483648 INVITE", "36893488147419103232 REGISTER", "1" * 5000 + " X", "-1 INVITE",
     "1", "INVITE", "1 INVITE x", "one INVITE", "1 INV/ITE", "١ INVITE", ""],
)  # fmt: skip
def test_bad_cseq(text: str) -> None:
    with pytest.raises(ParseError):
        CSeq.parse(text)


# Parsing ------------------------------------------------------------------------------------


def test_parse_request_and_typed_accessors() -> None:
    message = request()
    assert message.is_request and not message.is_response
    assert message.method == "INVITE"
    assert str(message.uri) == "sip:bob@biloxi.example.com"
    assert message.version == "SIP/2.0"
    assert len(message.via) == 2
    assert message.via[0].branch == "z9hG4bK776asdhds"
    assert message.via[1].received == "192.0.2.9"
    assert message.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert message.cseq == CSeq(314159, "INVITE")
    assert message.from_header.display_name == "Alice"
    assert message.from_header.tag == "1928301774"
    assert message.to.display_name == "Bob" and message.to.tag is None
    assert [str(contact.uri) for contact in message.contact] == [
        "sip:alice@pc33.atlanta.example.com"
    ]
    assert message.max_forwards == 70
    assert message.content_length == len(SDP)
    assert message.content_type == "application/sdp"
    assert message.route == [] and message.record_route == []
    assert message.body == SDP
    validate_request(message)


def test_accessors_return_copies_of_lists() -> None:
    message = request()
    message.via.clear()
    assert len(message.via) == 2


def test_parse_response() -> None:
    message = parse_message(
        crlf(
            "SIP/2.0 180 Ringing\n"
            "Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKa\n"
            "To: <sip:bob@example.com>;tag=9\n"
            "From: <sip:al@example.com>;tag=3\n"
            "Call-ID: c1\n"
            "CSeq: 2 INVITE\n"
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\n"
            "Content-Length: 0\n\n"
        )
    )
    assert isinstance(message, SIPResponse)
    assert message.is_response
    assert (message.status_code, message.reason) == (180, "Ringing")
    assert [str(route.uri) for route in message.record_route] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    validate_response(message)


def test_folding_is_joined_with_one_space() -> None:
    message = request(
        crlf(
            "OPTIONS sip:a@b SIP/2.0\n"
            "Via: SIP/2.0/UDP h;branch=z9hG4bK1\n"
            "Subject: first part\n"
            "   \t second part\n"
            "\tthird\n"
            "Route:\n"
            " <sip:services.example.com;lr>\n"
            "CSeq: 0009\n"
            "  OPTIONS\n"
            "l: 0\n\n"
        )
    )
    assert message.headers.get("Subject") == "first part second part third"
    assert message.headers.get("Route") == "<sip:services.example.com;lr>"
    assert message.cseq == CSeq(9, "OPTIONS")


def test_lws_before_colon_and_odd_case_names() -> None:
    message = request(crlf("OPTIONS sip:a@b SIP/2.0\nTO :  sip:x@y\nvIa  : SIP/2.0/UDP h\nL:0\n\n"))
    assert list(message.headers) == [
        ("To", "sip:x@y"),
        ("Via", "SIP/2.0/UDP h"),
        ("Content-Length", "0"),
    ]


def test_utf8_headers_and_reason() -> None:
    message = parse_message("SIP/2.0 200 Всё хорошо\r\nSubject: Привет, мир\r\n\r\n".encode())
    assert isinstance(message, SIPResponse)
    assert message.reason == "Всё хорошо"
    assert message.headers.get("Subject") == "Привет, мир"


def test_bad_utf8_is_a_parse_error_with_position() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: \xff\xfe\r\n\r\n"
    with pytest.raises(ParseError, match="UTF-8") as caught:
        parse_message(data)
    assert caught.value.offset == data.index(b"\xff")
    assert caught.value.line_number == 2


def test_body_is_not_decoded() -> None:
    body = bytes(range(256))
    data = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Type: application/octet-stream\r\n"
    data += b"Content-Length: 256\r\n\r\n" + body
    assert request(data).body == body


def test_leading_crlfs_are_skipped_and_bare_lf_is_tolerated() -> None:
    assert request(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n").method == "OPTIONS"
    message = request(b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nl: 2\n\nhi")
    assert message.body == b"hi"
    assert message.via[0].host == "h"
    mixed = request(b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\nhi")
    assert mixed.body == b"hi"


def test_missing_empty_line_on_a_datagram_gives_an_empty_body() -> None:
    message = request(
        b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=0\r\nP-hint: rr-enforced\r\n"
    )
    assert message.headers.get("P-hint") == "rr-enforced"
    assert message.body == b""
    assert request(b"ACK sip:a@b SIP/2.0\r\nMax-Forwards: 9").max_forwards == 9


def test_content_length_frames_udp_bodies() -> None:
    head = b"OPTIONS sip:a@b SIP/2.0\r\n"
    assert request(head + b"Content-Length: 2\r\n\r\nhello").body == b"he"  # truncated
    assert request(head + b"\r\nhello").body == b"hello"  # missing: the rest
    assert request(head + b"l: 5\r\nl: 5\r\n\r\nhello").body == b"hello"  # repeated, equal
    assert request(head + b"Content-Length: 0005\r\n\r\nhello").content_length == 5
    for bad in (b"6", b"-1", b"five", b"1 2", b"99999999999999999999", b""):
        with pytest.raises(ParseError, match="Content-Length"):
            parse_message(head + b"Content-Length: " + bad + b"\r\n\r\nhello")
    with pytest.raises(ParseError, match="conflicting"):
        parse_message(head + b"l: 5\r\nContent-Length: 4\r\n\r\nhello")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"INVITE sip:a@b\r\n\r\n", "Request-Line"),
        (b"INVITE  sip:a@b SIP/2.0\r\n\r\n", "Request-Line"),
        (b"INVITE sip:a@b SIP/2.0 \r\n\r\n", "Request-Line"),
        (b"INVITE sip:a@b; lr SIP/2.0\r\n\r\n", "Request-Line"),
        (b"INVITE <sip:a@b> SIP/2.0\r\n\r\n", "Request-URI"),
        (b"INV<ITE sip:a@b SIP/2.0\r\n\r\n", "method"),
        (b"INVITE sip:a@b HTTP/1.1\r\n\r\n", "SIP-Version"),
        (b"INVITE sip:a@b SIP/2\r\n\r\n", "SIP-Version"),
        (b"SIP/2.0 4294967301 big\r\n\r\n", "status code"),
        (b"SIP/2.0 99 low\r\n\r\n", "status code"),
        (b"SIP/2.0 700 high\r\n\r\n", "status code"),
        (b"SIP/2.0 2OO OK\r\n\r\n", "status code"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nNo colon here\r\n\r\n", "without ':'"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n", "not a token"),
        (b"OPTIONS sip:a@b SIP/2.0\r\n folded: before any\r\n\r\n", "continuation"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\rb\r\n\r\n", "CR without LF"),
    ],
)
def test_framing_errors(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_message(data)


def test_other_versions_raise_version_not_supported_with_the_message() -> None:
    data = b"OPTIONS sip:t.watson@example.org SIP/7.0\r\nVia: SIP/7.0/UDP c;branch=z9hG4bKkdjuw\r\n"
    data += (
        b"Call-ID: v@c\r\nCSeq: 1 OPTIONS\r\nTo: <sip:t@e>\r\nFrom: <sip:a@e>;tag=1\r\nl: 0\r\n\r\n"
    )
    with pytest.raises(VersionNotSupported) as caught:
        parse_message(data)
    assert isinstance(caught.value, ParseError)
    assert caught.value.version == "SIP/7.0"
    original = caught.value.sip_message
    assert isinstance(original, SIPRequest)
    answer = original.create_response(505)
    assert (answer.status_code, answer.reason) == (505, "Version Not Supported")
    assert answer.headers.get("Via") == "SIP/7.0/UDP c;branch=z9hG4bKkdjuw"
    assert request(b"OPTIONS sip:a@b sip/2.0\r\n\r\n").version == "SIP/2.0"


def test_limits() -> None:
    head = b"OPTIONS sip:a@b SIP/2.0\r\n"
    many = head + b"".join(b"X-%d: v\r\n" % index for index in range(MAX_HEADERS)) + b"\r\n"
    assert len(request(many).headers) == MAX_HEADERS
    too_many = head + b"".join(b"X-%d: v\r\n" % index for index in range(MAX_HEADERS + 1)) + b"\r\n"
    with pytest.raises(ParseError, match="header fields"):
        parse_message(too_many)
    body = b"x" * (MAX_MESSAGE_SIZE - 60)
    big = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    assert len(big) <= MAX_MESSAGE_SIZE and request(big).body == body
    with pytest.raises(ParseError, match="exceeds"):
        parse_message(big + b"x" * (MAX_MESSAGE_SIZE - len(big) + 1))


def test_single_valued_headers_must_appear_once() -> None:
    message = request(crlf("OPTIONS sip:a@b SIP/2.0\nCall-ID: one\ni: two\nMax-Forwards: 1\n\n"))
    with pytest.raises(ParseError, match="Call-ID header appears 2 times"):
        _ = message.call_id
    with pytest.raises(ParseError, match="missing CSeq"):
        _ = message.cseq
    with pytest.raises(ParseError, match="missing From"):
        _ = message.from_header
    assert message.max_forwards == 1


@pytest.mark.parametrize("value", ["256", "-1", "x", "1 2", "9" * 4400])
def test_bad_max_forwards(value: str) -> None:
    message = request(crlf(f"OPTIONS sip:a@b SIP/2.0\nMax-Forwards: {value}\n\n"))
    with pytest.raises(ParseError, match="Max-Forwards"):
        _ = message.max_forwards


def test_contact_wildcard() -> None:
    message = request(crlf("REGISTER sip:r SIP/2.0\nContact: *\nExpires: 0\n\n"))
    (wildcard,) = message.contact
    assert wildcard.uri == AbsoluteURI("*")
    both = request(crlf("REGISTER sip:r SIP/2.0\nContact: *, <sip:a@b>\n\n"))
    with pytest.raises(ParseError, match=r"Contact: \*"):
        _ = both.contact
    assert request(crlf("REGISTER sip:r SIP/2.0\n\n")).contact == []


def test_malformed_header_names_the_header() -> None:
    message = request(crlf('OPTIONS sip:a@b SIP/2.0\nTo: "unterminated <sip:a@b>\n\n'))
    with pytest.raises(ParseError, match="To header"):
        _ = message.to


# Serialisation ------------------------------------------------------------------------------


def test_serialize_round_trips_a_canonical_message() -> None:
    assert request().serialize() == INVITE
    assert bytes(request()) == INVITE


def test_serialize_writes_canonical_names_and_a_correct_content_length() -> None:
    message = request(
        crlf("OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP h\nl: 99\ni: x\n\n") + b"x" * 99
    )
    message.body = b"four"
    assert (
        message.serialize()
        == crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nContent-Length: 4\nCall-ID: x\n\n")
        + b"four"
    )
    built = SIPRequest("MESSAGE", SIPURI(user="bob", host="::1"), Headers([("i", "1@h")]), b"hi")
    assert (
        built.serialize()
        == b"MESSAGE sip:bob@[::1] SIP/2.0\r\nCall-ID: 1@h\r\nContent-Length: 2\r\n\r\nhi"
    )
    empty = SIPResponse(200, "OK", Headers())
    assert empty.serialize() == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    twice = Headers([("l", "1"), ("X-Y", "y"), ("Content-Length", "2")])
    assert SIPResponse(200, "OK", twice).serialize() == (
        b"SIP/2.0 200 OK\r\nContent-Length: 0\r\nX-Y: y\r\n\r\n"
    )


# Responses ----------------------------------------------------------------------------------


def test_create_response_copies_what_rfc_3261_8_2_6_1_says() -> None:
    message = request()
    response = message.create_response(180, to_tag="as83kd9bs")
    assert (response.status_code, response.reason) == (180, "Ringing")
    assert [name for name, _ in response.headers] == ["Via", "Via", "From", "To", "Call-ID", "CSeq"]
    assert response.headers.get_all("Via") == message.headers.get_all("Via")
    assert response.to.tag == "as83kd9bs"
    assert response.headers.get("To") == "Bob <sip:bob@biloxi.example.com>;tag=as83kd9bs"
    assert response.from_header == message.from_header
    assert response.cseq == message.cseq and response.call_id == message.call_id
    assert response.body == b""
    trying = message.create_response(100)
    assert trying.reason == "Trying"
    assert trying.headers.get("Timestamp") == "54"
    assert trying.to.tag is None
    validate_response(response)


def test_create_response_keeps_an_existing_to_tag_and_adds_headers() -> None:
    message = request(
        INVITE.replace(b"To: Bob <sip:bob@biloxi.example.com>", b"To: <sip:b@c>;tag=old")
    )
    response = message.create_response(
        200, "Fine", to_tag="new", headers=[("Contact", "<sip:b@192.0.2.4>"), ("k", "timer")]
    )
    assert response.to.tag == "old"
    assert response.reason == "Fine"
    assert response.headers.get("Supported") == "timer"
    assert "Timestamp" not in response.headers


def test_create_response_works_without_the_headers_it_copies() -> None:
    # [RFC 4475 §3.3.1] insuf: the UAS still answers 400 with what it has.
    message = request(
        crlf(
            "INVITE sip:a@b SIP/2.0\nCSeq: 1 INVITE\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\n"
            'To: "x <sip:a@b>\n\n'
        )
    )
    with pytest.raises(ParseError, match="missing From, Call-ID"):
        validate_request(message)
    response = message.create_response(400, "Missing headers", to_tag="t")
    assert list(response.headers) == [
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bKq"),
        ("To", '"x <sip:a@b>'),  # unparseable: copied as it is
        ("CSeq", "1 INVITE"),
    ]


@pytest.mark.parametrize("code", [99, 700, 0])
def test_create_response_refuses_bad_codes(code: int) -> None:
    with pytest.raises(ValueError, match="status code"):
        request().create_response(code)
    with pytest.raises(ValueError, match="CR or LF"):
        request().create_response(200, "OK\r\nX: y")


def test_reason_phrases() -> None:
    assert [reason_phrase(code) for code in (100, 200, 481, 489, 491, 494, 603)] == [
        "Trying",
        "OK",
        "Call/Transaction Does Not Exist",
        "Bad Event",
        "Request Pending",
        "Security Agreement Required",
        "Decline",
    ]
    assert reason_phrase(299) == "Success" and reason_phrase(699) == "Global Failure"


# Validation and salvage ---------------------------------------------------------------------


def test_validate_request_rules() -> None:
    good = INVITE
    validate_request(request(good))
    cases = {
        b"CSeq: 314159 INVITE": (b"CSeq: 314159 BYE", "does not match"),
        b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com": (b"Call-ID: has space", "Call-ID"),
        b"Max-Forwards: 70": (b"Max-Forwards: 300", "Max-Forwards"),
        b"Content-Type: application/sdp": (b"X-Nothing: 1", "Content-Type"),
        b"INVITE sip:bob@biloxi.example.com SIP": (
            b"INVITE sip:bob@biloxi.example.com?Route=x SIP", "Request-URI"
        ),
    }  # fmt: skip
    for old, (new, message) in cases.items():
        with pytest.raises(ParseError, match=message):
            validate_request(request(good.replace(old, new)))
    no_max_forwards = request(good.replace(b"Max-Forwards: 70\r\n", b""))
    validate_request(no_max_forwards)  # RFC 2543 peers [RFC 4475 §3.4.1]
    assert no_max_forwards.max_forwards is None


def test_salvage_builds_a_400_naming_the_problem() -> None:
    broken = INVITE.replace(b"Content-Length: %d" % len(SDP), b"Content-Length: 9999")
    with pytest.raises(ParseError):
        parse_message(broken)
    response = salvage_for_400(broken, to_tag="z")
    assert response is not None
    assert response.status_code == 400
    assert response.reason.startswith("Bad Request (Content-Length 9999 exceeds")
    assert response.headers.get_all("Via") == request().headers.get_all("Via")
    assert response.to.tag == "z"
    assert response.cseq == CSeq(314159, "INVITE")
    # The reason phrase holds only characters Reason-Phrase allows [RFC 3261 §25.1].
    reparsed = parse_message(response.serialize())
    assert isinstance(reparsed, SIPResponse)
    assert reparsed.reason == response.reason
    random_tag = salvage_for_400(broken)
    assert random_tag is not None and random_tag.to.tag


_FROM_TO = "From: <sip:a@b>\nTo: <sip:c@d>\n\n"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        # a response; an ACK; an unreadable Via; no To
        crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h\nCall-ID: x\nCSeq: 1 INVITE\n" + _FROM_TO),
        crlf("ACK sip:a@b SIP/2.0 x\nVia: SIP/2.0/UDP h\nCall-ID: x\nCSeq: 1 ACK\n" + _FROM_TO),
        crlf("INVITE sip:a@b SIP/2.0 x\nVia: garbage\nCall-ID: x\nCSeq: 1 INVITE\n" + _FROM_TO),
        crlf("INVITE sip:a@b SIP/2.0 x\nVia: SIP/2.0/UDP h\nCall-ID: x\nCSeq: 1 INVITE\n\n"),
    ],
)  # fmt: skip
def test_salvage_gives_up_when_it_cannot_address_an_answer(data: bytes) -> None:
    assert salvage_for_400(data) is None


# Stream framing -----------------------------------------------------------------------------

OPTIONS = crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nl: 5\n\nhello")


def test_framer_cuts_messages_by_content_length() -> None:
    framer = StreamFramer()
    assert framer.feed(OPTIONS + OPTIONS[:30]) == [OPTIONS]
    assert framer.buffered == 30
    assert framer.feed(OPTIONS[30:] + OPTIONS) == [OPTIONS, OPTIONS]
    assert framer.buffered == 0
    compact = b"BYE sip:a@b SIP/2.0\r\nl:\r\n 3\r\n\r\nabc"  # compact and folded
    assert StreamFramer().feed(compact) == [compact]


def test_framer_keepalives_between_messages() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [KeepAlive.PING]
    assert framer.feed(b"\r\n") == [KeepAlive.PONG]
    assert framer.feed(b"\r\n\r\n" + OPTIONS + b"\r\n") == [KeepAlive.PING, OPTIONS, KeepAlive.PONG]
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n") == [KeepAlive.PONG]
    assert framer.feed(b"\r\n\r\n\r\n") == [KeepAlive.PING, KeepAlive.PONG]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", "required"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n", "Content-Length"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n", "conflicting"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: 70000\r\n\r\n", "exceeds"),
        (b"X" * (MAX_MESSAGE_SIZE + 1), "exceeds"),
    ],
)
def test_framer_errors_spend_the_framer(data: bytes, message: str) -> None:
    framer = StreamFramer()
    with pytest.raises(ParseError, match=message):
        framer.feed(data)
    with pytest.raises(ParseError, match="already failed"):
        framer.feed(b"\r\n")


def test_framer_waits_for_a_body_announced_by_content_length() -> None:
    # [RFC 4475 §3.1.2.2] over a stream: wait for more data.
    framer = StreamFramer()
    head = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 9999\r\n\r\n"
    assert framer.feed(head + b"v=0\r\n") == []
    assert framer.buffered == len(head) + 5
