"""Language-model text made speakable: pieces cut as deltas arrive, emoji stripped.

An LLM streams its reply in small deltas; a TTS wants whole phrases. A
:class:`SpeakableChunker` is fed the deltas and hands out each piece as soon
as it ends: at a sentence end (``.``, ``!``, ``?`` and their CJK forms,
followed by a space or the end), or, once a piece is long enough, at a
clause boundary (``,``, ``;``, ``:``, a dash), so that the first audio starts
early without cutting a short sentence into stammered bits. Decimal points
("3.5"), common abbreviations ("Dr.", "e.g.") and ellipses inside a sentence
do not end it. :func:`speakable` drops what a voice cannot say: emoji and
pictographs, markdown emphasis and code marks, bullet markers, URLs' brackets.

>>> chunker = SpeakableChunker()
>>> pieces = [*chunker.feed("Hello there! The total is 3.5 dol"), *chunker.feed("lars. Bye 👋")]
>>> pieces
['Hello there!', 'The total is 3.5 dollars.']
>>> chunker.flush()
['Bye']
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["SpeakableChunker", "speakable"]

_SENTENCE_END = frozenset(".!?。！？…")
_CLAUSE_END = frozenset(",;:—–")
#: Words after which a full stop is not a sentence end.
_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "e.g", "i.e", "approx", "no", "nr", "tel"}
)
_MARKDOWN = re.compile(r"(\*\*|__|\*|`+|^#+\s*|^\s*[-*•]\s+)", re.MULTILINE)
_SPACES = re.compile(r"\s+")


def _is_pictograph(character: str) -> bool:
    """Emoji, pictographs, dingbats, variation selectors and joiners: nothing to say."""
    code = ord(character)
    if code in (0x200D, 0xFE0E, 0xFE0F) or 0x1F3FB <= code <= 0x1F3FF:  # ZWJ, VS, skin tones
        return True
    category = unicodedata.category(character)
    if category == "So" and code >= 0x2190:  # symbols, other: arrows, dingbats, emoji
        return True
    return 0x1F000 <= code <= 0x1FAFF or 0xE0000 <= code <= 0xE007F  # emoji planes, tags


def speakable(text: str) -> str:
    """``text`` without what a voice cannot say, spaces collapsed.

    >>> speakable("**Great** news 🎉🎉 — see `item 4`!")
    'Great news — see item 4!'
    """
    text = "".join(character for character in text if not _is_pictograph(character))
    text = _MARKDOWN.sub("", text)
    return _SPACES.sub(" ", text).strip()


class SpeakableChunker:
    """Cuts a stream of text deltas into speakable pieces.

    Args:
        min_clause: A clause boundary ends a piece only after this many
            characters (a sentence end always does).
        max_piece: A piece with no boundary is cut at a space after this many
            characters, so a run-on reply still starts speaking.
    """

    def __init__(self, *, min_clause: int = 40, max_piece: int = 200) -> None:
        self.min_clause = min_clause
        self.max_piece = max_piece
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        """Take the next delta; returns the pieces it completed (speakable, non-empty)."""
        self._buffer += delta
        pieces: list[str] = []
        while (cut := self._boundary()) is not None:
            piece, self._buffer = self._buffer[:cut], self._buffer[cut:]
            cleaned = speakable(piece)
            if cleaned:
                pieces.append(cleaned)
        return pieces

    def flush(self) -> list[str]:
        """The rest, when the reply has ended."""
        rest, self._buffer = speakable(self._buffer), ""
        return [rest] if rest else []

    def _boundary(self) -> int | None:
        """Where the first complete piece of the buffer ends (exclusive), if one does."""
        text = self._buffer
        clause: int | None = None
        for index, character in enumerate(text):
            following = text[index + 1] if index + 1 < len(text) else None
            if following is None:
                break  # the next delta may continue this word or number
            if character in _SENTENCE_END and following.isspace():
                if character == "." and self._abbreviation(text, index):
                    continue
                if character == "." and text[index - 1 : index] == ".":
                    continue  # an ellipsis inside the sentence
                return index + 1
            if (
                clause is None
                and character in _CLAUSE_END
                and following.isspace()
                and index + 1 >= self.min_clause
            ):
                clause = index + 1
        if clause is not None:
            return clause
        if len(text) > self.max_piece:
            space = text.rfind(" ", 0, self.max_piece)
            return space + 1 if space > 0 else self.max_piece
        return None

    @staticmethod
    def _abbreviation(text: str, index: int) -> bool:
        start = index
        while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
            start -= 1
        word = text[start:index].lower()
        return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())
