"""PCMU and PCMA against the ITU-T G.191 reference tables, for every input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from voip_core.codecs import PCMA, PCMU
from voip_core.codecs.g711 import (
    alaw_decode_table,
    alaw_encode_table,
    ulaw_decode_table,
    ulaw_encode_table,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def encode_all(codec: type[PCMU] | type[PCMA]) -> np.ndarray:
    encoder = codec().create_encoder()
    return np.frombuffer(encoder.encode(ALL_INT16.astype(np.float32) / 32768), np.uint8)


def test_ulaw_encode_matches_itu_table_for_all_65536_inputs(vectors):
    reference = np.fromfile(vectors / "g711" / "ulaw_encode_int16_itu.bin", np.uint8)
    assert np.array_equal(ulaw_encode_table(), reference)
    assert np.array_equal(encode_all(PCMU), reference)


def test_alaw_encode_matches_itu_table_for_all_65536_inputs(vectors):
    reference = np.fromfile(vectors / "g711" / "alaw_encode_int16.bin", np.uint8)
    assert np.array_equal(alaw_encode_table(), reference)
    assert np.array_equal(encode_all(PCMA), reference)


@pytest.mark.parametrize(("law", "codec"), [("u", PCMU), ("a", PCMA)])
def test_itu_stl_sweep_files(vectors, law, codec):
    """The raw STL files: sweep.src -> sweep-r.X (encode) and sweep-r.X-X (decode)."""
    data = vectors / "g711" / "itu_stl_test_data"
    source = np.fromfile(data / "sweep.src", "<i2")
    codes = np.fromfile(data / f"sweep-r.{law}", "<i2").astype(np.uint8)
    decoded = np.fromfile(data / f"sweep-r.{law}-{law}", "<i2")
    call = codec()
    payload = call.create_encoder().encode(source.astype(np.float32) / 32768)
    assert np.array_equal(np.frombuffer(payload, np.uint8), codes)
    pcm = call.create_decoder().decode(codes.tobytes())
    assert np.array_equal(np.rint(pcm * 32768).astype(np.int16), decoded)


@pytest.mark.parametrize(
    ("key", "table"), [("decode_ulaw", ulaw_decode_table), ("decode_alaw", alaw_decode_table)]
)
def test_decode_tables_match_all_256_codes(vectors, key, table):
    expected = json.loads((vectors / "g711.json").read_text())[key]
    assert [int(v) for v in table()] == [expected[f"0x{code:02x}"] for code in range(256)]


def test_known_samples(vectors):
    rows = json.loads((vectors / "g711.json").read_text())["sample_table"]
    for row in rows:
        x = np.array([row["pcm_int16"] / 32768], np.float32)
        assert PCMU().create_encoder().encode(x)[0] == int(row["ulaw"], 16), row
        assert PCMA().create_encoder().encode(x)[0] == int(row["alaw"], 16), row


@pytest.mark.parametrize("codec", [PCMU, PCMA])
def test_decode_then_encode_is_identity_on_codes(codec):
    codes = bytes(range(256))
    call = codec()
    pcm = call.create_decoder().decode(codes)
    again = call.create_encoder().encode(pcm)
    decoded_again = call.create_decoder().decode(again)
    # mu-law has two codes for zero (0x7f and 0xff); everything else maps back exactly.
    assert np.array_equal(pcm, decoded_again)


@pytest.mark.parametrize("codec", [PCMU, PCMA])
@given(audio=arrays(np.float32, st.integers(1, 400), elements=st.floats(-4.0, 4.0, width=32)))
def test_encode_any_float_audio_one_byte_per_sample(codec, audio):
    payload = codec().create_encoder().encode(audio)
    assert len(payload) == len(audio)
    decoded = codec().create_decoder().decode(payload)
    # Out-of-range input clips to full scale, with the sign kept.
    assert np.all(np.sign(decoded[np.abs(audio) > 0.05]) == np.sign(audio[np.abs(audio) > 0.05]))


def test_codec_attributes():
    assert (PCMU.static_payload_type, PCMU.clock_rate, PCMU.sample_rate) == (0, 8000, 8000)
    assert (PCMA.static_payload_type, PCMA.clock_rate) == (8, 8000)
    codec = PCMU()
    assert codec.samples_per_frame == 160
    assert codec.timestamp_increment == 160
    assert PCMU.media_format().rtpmap_value == "PCMU/8000"
