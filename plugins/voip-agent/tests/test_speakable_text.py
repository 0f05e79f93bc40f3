"""Cutting streamed LLM text into speakable pieces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from voip_agent.text import SpeakableChunker, speakable


def pieces_of(deltas: list[str], **options) -> list[str]:
    chunker = SpeakableChunker(**options)
    pieces = [piece for delta in deltas for piece in chunker.feed(delta)]
    return pieces + chunker.flush()


def test_sentences_come_out_as_soon_as_they_end():
    chunker = SpeakableChunker()
    assert chunker.feed("Good morning") == []
    assert chunker.feed("! How can I") == ["Good morning!"]
    assert chunker.feed(" help? ") == ["How can I help?"]
    assert chunker.flush() == []


def test_numbers_abbreviations_and_ellipses_do_not_end_a_sentence():
    text = "It costs 3.50 euros, e.g. at Dr. Smith's office... or so. Next."
    assert pieces_of([text]) == [
        "It costs 3.50 euros, e.g. at Dr. Smith's office... or so.",
        "Next.",
    ]


def test_a_long_sentence_is_cut_at_a_clause_once_long_enough():
    text = "When you arrive at the reception on the second floor, ask for the desk, then wait."
    assert pieces_of([text], min_clause=40) == [
        "When you arrive at the reception on the second floor,",
        "ask for the desk, then wait.",
    ]
    assert pieces_of(["Yes, sure."], min_clause=40) == ["Yes, sure."]  # too short to cut


def test_a_run_on_reply_is_cut_at_a_space():
    text = "word " * 100
    pieces = pieces_of([text], max_piece=50)
    assert all(len(piece) <= 50 for piece in pieces) and len(pieces) > 5


def test_emoji_and_markdown_are_not_spoken():
    assert speakable("Sure 👍🏽! **Bold** and `code` ❤️") == "Sure ! Bold and code"
    assert pieces_of(["- first item.\n- second item. 🚀"]) == ["first item.", "second item."]
    assert pieces_of(["🎉🎉"]) == []


@given(st.text(max_size=300), st.integers(1, 30))
def test_delta_boundaries_do_not_change_what_is_said(text, step):
    whole = pieces_of([text])
    streamed = pieces_of([text[i : i + step] for i in range(0, len(text), step)])
    assert " ".join(streamed).split() == " ".join(whole).split()
    assert " ".join(whole).split() == speakable(text).split()
