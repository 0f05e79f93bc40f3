"""Recording both directions of a call, on one timeline, to WAV.

:class:`CallRecorder` is fed what a call hears (as it is played out) and
what it says (as each packet is sent), each chunk with the event-loop time
it happened at. Chunks of one direction are laid end to end while they keep
time; where a direction went quiet (the peer stopped sending, hold, nothing
queued) the gap is filled with silence, so the two directions stay aligned
with each other and with the clock. It writes a stereo WAV (caller left,
callee right), or one mono WAV per direction, or their mix.

>>> import numpy as np
>>> recorder = CallRecorder(8000, we_called=False)
>>> recorder.heard(np.full(160, 0.5, np.float32), 10.0)
>>> recorder.said(np.full(160, 0.25, np.float32), 8000, 10.5)
>>> recorder.duration
0.52
>>> stereo = recorder.stereo()
>>> stereo.shape, float(stereo[0, 0]), float(stereo[4000, 1])
((4160, 2), 0.5, 0.25)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voip_core.codecs.base import FloatArray
from voip_core.resample import resample
from voip_core.wav import write_wav

__all__ = ["CallRecorder"]

#: A chunk starting this much later than the end of the one before starts
#: after silence; anything closer is taken as the same stream, laid end to end.
GAP_TOLERANCE = 0.06


class _Track:
    """One direction: chunks at their sample offsets, at one sample rate."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.chunks: list[tuple[int, FloatArray]] = []
        self.end = 0  # samples

    def add(self, audio: FloatArray, offset: int) -> None:
        if offset - self.end > GAP_TOLERANCE * self.rate or not self.chunks:
            start = max(offset, self.end)
        else:
            start = self.end
        self.chunks.append((start, np.array(audio, np.float32)))  # a copy: callers reuse buffers
        self.end = start + len(audio)

    def render(self, rate: int, length: int) -> FloatArray:
        """The track as ``length`` samples at ``rate`` (resampled once, as a whole)."""
        native = np.zeros(-(-length * self.rate // rate), np.float32)
        for start, audio in self.chunks:
            piece = audio[: max(0, len(native) - start)]
            native[start : start + len(piece)] = piece
        if rate == self.rate:
            return native[:length]
        out = np.zeros(length, np.float32)
        converted = resample(native, self.rate, rate)[:length]
        out[: len(converted)] = converted
        return out


class CallRecorder:
    """Both directions of one call at ``rate`` Hz, from the first chunk's time on.

    Args:
        rate: The sample rate of what is written (the call's ``sampling_rate_hz``).
        we_called: True when our side placed the call: it is the caller (left).
    """

    def __init__(self, rate: int, *, we_called: bool) -> None:
        self.rate = rate
        self.we_called = we_called
        self._start: float | None = None
        self._heard = _Track(rate)
        self._said: dict[int, _Track] = {}

    def _offset(self, at: float, rate: int) -> int:
        if self._start is None:
            self._start = at
        return max(0, round((at - self._start) * rate))

    def heard(self, audio: FloatArray, at: float) -> None:
        """What the remote said, at ``rate``, played out at loop time ``at``."""
        self._heard.add(audio, self._offset(at, self.rate))

    def said(self, audio: FloatArray, rate: int, at: float) -> None:
        """What we sent (one packet's audio, at the codec's ``rate``), at loop time ``at``."""
        track = self._said.get(rate)
        if track is None:
            track = self._said[rate] = _Track(rate)
        track.add(audio, self._offset(at, rate))

    @property
    def duration(self) -> float:
        """Seconds from the first chunk to the end of the last."""
        ends = [self._heard.end / self.rate] + [t.end / t.rate for t in self._said.values()]
        return round(max(ends), 6)

    def _tracks(self) -> tuple[FloatArray, FloatArray]:
        length = round(self.duration * self.rate)
        heard = self._heard.render(self.rate, length)
        said = np.zeros(length, np.float32)
        for track in self._said.values():
            said += track.render(self.rate, length)
        return heard, said

    def stereo(self) -> FloatArray:
        """(samples, 2): caller left, callee right."""
        heard, said = self._tracks()
        caller, callee = (said, heard) if self.we_called else (heard, said)
        return np.stack([caller, callee], axis=1)

    def write(self, path: str | Path, layout: str = "stereo") -> list[Path]:
        """Write the recording as 16-bit PCM WAV; returns the files written.

        Args:
            path: The file (for ``"mono"``: the stem of two files,
                ``NAME-heard.wav`` and ``NAME-said.wav``).
            layout: ``"stereo"`` (caller left, callee right), ``"mono"`` (one
                file per direction), ``"mix"`` (both in one channel),
                ``"heard"`` or ``"said"`` (one direction).
        """
        path = Path(path)
        heard, said = self._tracks()
        if layout == "stereo":
            write_wav(path, self.stereo(), self.rate)
            return [path]
        if layout == "mono":
            paths = [path.with_name(f"{path.stem}-{name}.wav") for name in ("heard", "said")]
            write_wav(paths[0], heard, self.rate)
            write_wav(paths[1], said, self.rate)
            return paths
        tracks = {"mix": np.clip(heard + said, -1.0, 1.0), "heard": heard, "said": said}
        if layout not in tracks:
            raise ValueError(f"layout {layout!r}: stereo, mono, mix, heard or said")
        write_wav(path, tracks[layout], self.rate)
        return [path]
