"""SIP, SIPS, tel and other URIs: parsing, escaping, IPv6, parameters [RFC 3261 §19.1, §25.1]."""

from __future__ import annotations

import dataclasses

import pytest

from voip_core.errors import ParseError
from voip_core.sip import SIPURI, AbsoluteURI, TelURI, parse_uri


def test_full_sip_uri_parts() -> None:
    uri = SIPURI.parse(
        "sips:alice:secret@atlanta.example.com:5061;transport=TCP;lr;maddr=[::1]?Subject=hi&Priority=urgent"
    )
    assert uri.scheme == "sips"
    assert uri.user == "alice"
    assert uri.password == "secret"
    assert uri.host == "atlanta.example.com"
    assert uri.port == 5061
    assert uri.parameters == {"transport": "TCP", "lr": None, "maddr": "[::1]"}
    assert uri.transport == "tcp"
    assert uri.headers == {"Subject": "hi", "Priority": "urgent"}
    assert uri.host_port == "atlanta.example.com:5061"


def test_password_is_kept_out_of_repr() -> None:
    uri = SIPURI.parse("sip:alice:hunter2@example.com")
    assert uri.password == "hunter2"
    assert "hunter2" not in repr(uri)


def test_minimal_uri_defaults() -> None:
    uri = SIPURI.parse("sip:example.com")
    assert (uri.user, uri.password, uri.port, uri.transport) == (None, None, None, None)
    assert uri.parameters == {} and uri.headers == {}
    assert str(uri) == "sip:example.com"


@pytest.mark.parametrize(
    ("text", "host", "port", "written"),
    [
        ("sip:bob@[::1]:5062;transport=tcp", "::1", 5062, "sip:bob@[::1]:5062;transport=tcp"),
        ("sip:[2001:db8::10]", "2001:db8::10", None, "sip:[2001:db8::10]"),
        ("sip:u@[fd17:625c:f037:2:a00:27ff:feb9:4222]:25060", "fd17:625c:f037:2:a00:27ff:feb9:4222",
         25060, "sip:u@[fd17:625c:f037:2:a00:27ff:feb9:4222]:25060"),
        ("sip:u@[::ffff:192.0.2.1]", "::ffff:192.0.2.1", None, "sip:u@[::ffff:192.0.2.1]"),
    ],
)  # fmt: skip
def test_ipv6_references(text: str, host: str, port: int | None, written: str) -> None:
    uri = SIPURI.parse(text)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == written


def test_ipv6_host_set_by_hand_is_bracketed() -> None:
    assert str(SIPURI(host="::1", port=5060, user="a")) == "sip:a@[::1]:5060"


@pytest.mark.parametrize(
    "text",
    [
        "sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060",  # unbracketed IPv6 [RFC 5118 §4.10]
        "sip:[::1",  # unclosed bracket
        "sip:[zz::1]",  # not IPv6
        "sip:[1:2:3:4:5:6:7:8:9]",
        "sip:user@host:70000",  # port out of range
        "sip:user@host:",  # empty port
        "sip:",
        "sip:@host",
        "sip:a b@host",  # space
        "sip:user@example.com; lr",  # LWS [RFC 4475 §3.1.2.8]
        "sip:us%zzer@host",  # bad escape
        "sip:user@host;;lr",  # empty parameter
        "sip:user@host?=x",  # header without name
        "sip:user@host?x",  # header without value
        "<sip:user@example.com>",  # [RFC 4475 §3.1.2.7]
        "http://example.com",
    ],
)
def test_malformed_sip_uris_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        SIPURI.parse(text)


def test_scheme_is_case_insensitive_and_lower_cased() -> None:
    uri = SIPURI.parse("SIP:Bob@Example.COM;TRANSPORT=UDP")
    assert uri.scheme == "sip"
    assert uri.host == "Example.COM"  # hosts are kept as written
    assert uri.parameters == {"transport": "UDP"}
    assert uri.transport == "udp"


def test_unescaping_happens_once_and_escaping_writes_it_back() -> None:
    # [RFC 4475 §3.1.1.3] esc01: %25%34%31 is "%41", not "A".
    uri = SIPURI.parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.user == "caller"
    assert uri.parameters == {"lr": None, "name": "value%41"}
    assert str(uri) == "sip:caller@host5.example.net;lr;name=value%2541"
    assert SIPURI.parse(str(uri)) == uri


def test_user_part_with_escaped_sip_uri() -> None:
    uri = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert isinstance(uri, SIPURI)
    assert uri.user == "sips:user@example.com"
    assert uri.host == "example.net"
    # ':' and '@' may not appear unescaped in a user part [RFC 3261 §25.1].
    assert str(uri) == "sip:sips%3Auser%40example.com@example.net"


def test_semicolon_in_user_part() -> None:
    # [RFC 4475 §3.1.1.9] semiuri.
    uri = SIPURI.parse("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.parameters == {}
    assert str(uri) == "sip:user;par=u%40example.net@example.com"


def test_escaped_nul_is_kept_not_truncated() -> None:
    # [RFC 4475 §3.1.1.4] escnull.
    one = SIPURI.parse("sip:%00@host5.example.com")
    two = SIPURI.parse("sip:%00%00@host5.example.com")
    assert one.user == "\x00" and two.user == "\x00\x00"
    assert one != two
    assert str(two) == "sip:%00%00@host5.example.com"


def test_utf8_and_raw_bytes_in_user_part_round_trip() -> None:
    uri = SIPURI.parse("sip:%C3%A9l%C3%A8ve@example.com")
    assert uri.user == "élève"
    assert str(uri) == "sip:%C3%A9l%C3%A8ve@example.com"
    broken = SIPURI.parse("sip:%FF@example.com")  # not UTF-8: kept as the same byte
    assert str(broken) == "sip:%FF@example.com"


def test_characters_that_must_be_escaped_are() -> None:
    uri = SIPURI(user="a b@c", host="example.com", parameters={"x": "1 2"}, headers={"h": "a&b"})
    assert str(uri) == "sip:a%20b%40c@example.com;x=1%202?h=a%26b"
    assert SIPURI.parse(str(uri)) == uri


def test_unusual_but_legal_characters() -> None:
    # [RFC 4475 §3.1.1.2] intmeth's Request-URI.
    text = (
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    uri = SIPURI.parse(text)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert str(uri) == text


def test_with_parameters_and_replace_make_copies() -> None:
    uri = SIPURI.parse("sip:bob@example.com;transport=udp")
    tcp = uri.with_parameters(transport="tcp", lr=None)
    assert str(tcp) == "sip:bob@example.com;transport=tcp;lr"
    assert uri.parameters == {"transport": "udp"}  # the original is unchanged
    odd = uri.with_parameters({"X-Odd": "1"})
    assert odd.parameters["x-odd"] == "1"
    assert str(uri.without_parameters("TRANSPORT")) == "sip:bob@example.com"
    moved = dataclasses.replace(uri, host="::1", port=5080)
    assert str(moved) == "sip:bob@[::1]:5080;transport=udp"


def test_tel_uris() -> None:
    uri = parse_uri("tel:+1-201-555-0123;ext=1234;Phone-Context=example.com")
    assert isinstance(uri, TelURI)
    assert uri.number == "+1-201-555-0123"
    assert uri.parameters == {"ext": "1234", "phone-context": "example.com"}
    assert uri.is_global
    assert str(uri) == "tel:+1-201-555-0123;ext=1234;phone-context=example.com"
    local = TelURI.parse("tel:7042;phone-context=+7")
    assert not local.is_global and local.parameters == {"phone-context": "+7"}
    assert TelURI.parse(str(local)) == local


@pytest.mark.parametrize("text", ["tel:", "tel:+", "tel:xyz", "tel:+1 234", "tel:+1;;x", "sip:x"])
def test_bad_tel_uris(text: str) -> None:
    with pytest.raises(ParseError):
        TelURI.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "nobodyKnowsThisScheme:totallyopaquecontent",  # [RFC 4475 §3.3.2]
        "soap.beep://192.0.2.103:3002",  # [RFC 4475 §3.3.3]
        "isbn:2983792873",  # [RFC 4475 §3.3.4]
        "http://www.example.com",
        "urn:service:sos",
    ],
)
def test_other_schemes_are_kept_opaque(text: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteURI)
    assert str(uri) == text
    assert uri.scheme == text.partition(":")[0].lower()


@pytest.mark.parametrize("text", ["", "noscheme", ":x", "1abc:x", "a b:c", "x:<y>", "x:", 'x:"y"'])
def test_not_uris(text: str) -> None:
    with pytest.raises(ParseError):
        parse_uri(text)


def test_parse_uri_dispatches_by_scheme() -> None:
    assert isinstance(parse_uri("SIPS:a@b"), SIPURI)
    assert isinstance(parse_uri("TEL:+1"), TelURI)
    with pytest.raises(ParseError, match="malformed SIP URI"):
        parse_uri("sip:a b")
