"""Streaming resampling with soxr, and a FIFO that hands out exact frames.

soxr's streaming resampler is stateful, so 20 ms chunks resampled one after
another join without clicks. It works in internal blocks, though: at HQ a
chunk of 20 ms in often gives nothing out, and then a burst of ~100 ms.
:class:`Resampler` therefore puts soxr's output into a FIFO and
:meth:`Resampler.pop_frames` hands out frames of exactly the requested size.
The price is a delay equal to soxr's block: :meth:`Resampler.measure_delay`
measures it (see ``bench/`` and the README for the figures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from voip_core.codecs.base import FloatArray

__all__ = ["FrameFIFO", "Resampler", "resample"]

_EMPTY = np.zeros(0, np.float32)


def resample(
    audio: FloatArray, input_rate: int, output_rate: int, quality: str = "HQ"
) -> FloatArray:
    """Resample a whole signal in one go (no state kept).

    >>> len(resample(np.zeros(8000, np.float32), 8000, 16000))
    16000
    """
    if input_rate == output_rate:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    out: FloatArray = soxr.resample(
        np.asarray(audio, dtype=np.float32), input_rate, output_rate, quality
    )
    return out


class FrameFIFO:
    """A FIFO of float32 samples that returns fixed-size frames.

    Amortised O(1) per sample: the buffer grows by doubling and is compacted
    only when the read position passes half of it.
    """

    __slots__ = ("_buffer", "_end", "_start")

    def __init__(self, capacity: int = 4096) -> None:
        self._buffer = np.zeros(capacity, np.float32)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def push(self, samples: FloatArray) -> None:
        """Append samples."""
        count = len(samples)
        if not count:
            return
        if self._end + count > len(self._buffer):
            size = self._end - self._start
            if size + count > len(self._buffer) // 2:
                grown = np.zeros(max(2 * len(self._buffer), 2 * (size + count)), np.float32)
                grown[:size] = self._buffer[self._start : self._end]
                self._buffer = grown
            else:
                self._buffer[:size] = self._buffer[self._start : self._end]
            self._start, self._end = 0, size
        self._buffer[self._end : self._end + count] = samples
        self._end += count

    def pop(self, count: int) -> FloatArray | None:
        """The next ``count`` samples as a new array, or ``None`` if fewer are buffered."""
        if self._end - self._start < count:
            return None
        frame = self._buffer[self._start : self._start + count].copy()
        self._start += count
        if self._start == self._end:
            self._start = self._end = 0
        return frame

    def pop_all(self) -> FloatArray:
        """Everything buffered."""
        rest = self._buffer[self._start : self._end].copy()
        self._start = self._end = 0
        return rest

    def clear(self) -> None:
        """Drop everything buffered."""
        self._start = self._end = 0


class Resampler:
    """Per-stream, stateful resampler with a frame FIFO.

    Args:
        input_rate: Sample rate of the audio pushed in.
        output_rate: Sample rate of the frames popped out.
        quality: soxr quality (``"HQ"``, ``"MQ"``, ``"LQ"``, ``"QQ"``, ``"VHQ"``).

    Example:
        >>> r = Resampler(8000, 16000)
        >>> r.push(np.zeros(160, np.float32))  # 20 ms in
        >>> frames = list(r.pop_frames(320))   # soxr may still hold it: 0 or more frames
        >>> tail = r.flush()                   # end of stream: everything out
        >>> sum(len(f) for f in frames) + len(tail)
        320
    """

    def __init__(self, input_rate: int, output_rate: int, *, quality: str = "HQ") -> None:
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.quality = quality
        self.fifo = FrameFIFO()
        self._stream: Callable[[FloatArray, bool], FloatArray] | None = None

    @property
    def passthrough(self) -> bool:
        """True when both rates are equal and samples are only buffered."""
        return self.input_rate == self.output_rate

    def _new_stream(self) -> Callable[[FloatArray, bool], FloatArray]:
        try:
            # soxr's C object straight: the Python wrapper's checks and reshapes
            # cost more than the resampling of a 20 ms chunk.
            from soxr import soxr_ext

            engine = soxr_ext.CSoxr(
                self.input_rate,
                self.output_rate,
                1,
                soxr_ext.SOXR_FLOAT32_I,
                getattr(soxr_ext, self.quality),
                False,
            )

            def process(chunk: FloatArray, last: bool) -> FloatArray:
                out: FloatArray = engine.process_float32(chunk[:, None], last)[:, 0]
                return out

            return process
        except (ImportError, AttributeError, TypeError):  # pragma: no cover - other soxr builds
            import soxr

            stream = soxr.ResampleStream(
                self.input_rate, self.output_rate, 1, dtype="float32", quality=self.quality
            )

            def process_with_wrapper(chunk: FloatArray, last: bool) -> FloatArray:
                out: FloatArray = stream.resample_chunk(chunk, last=last)
                return out

            return process_with_wrapper

    def push(self, audio: FloatArray) -> None:
        """Resample ``audio`` and buffer the result (which may arrive later, in bursts)."""
        if self.passthrough:
            self.fifo.push(audio)
            return
        if self._stream is None:
            self._stream = self._new_stream()
        self.fifo.push(self._stream(np.ascontiguousarray(audio, dtype=np.float32), False))

    def pop_frames(self, frame_size: int) -> Iterator[FloatArray]:
        """Every whole frame of ``frame_size`` samples buffered so far."""
        while (frame := self.fifo.pop(frame_size)) is not None:
            yield frame

    def finish(self) -> None:
        """End the stream: move soxr's tail into the FIFO.

        The next :meth:`push` starts a fresh soxr stream, so this belongs
        where the audio has a gap anyway (end of an utterance).
        """
        if self._stream is not None:
            self.fifo.push(self._stream(_EMPTY, True))
            self._stream = None

    def flush(self) -> FloatArray:
        """End the stream and return everything buffered (see :meth:`finish`)."""
        self.finish()
        return self.fifo.pop_all()

    def reset(self) -> None:
        """Drop buffered audio and soxr's state."""
        self.fifo.clear()
        self._stream = None

    @staticmethod
    def measure_delay(
        input_rate: int,
        output_rate: int,
        *,
        quality: str = "HQ",
        chunk_ms: int = 20,
        seconds: float = 2.0,
    ) -> float:
        """Worst added delay, in seconds, of frames popped from a streaming resampler.

        Feeds ``chunk_ms`` chunks and, after each, compares how many output
        samples a perfect resampler would have produced with how many the
        FIFO holds: the largest shortfall is the pre-roll a real-time reader
        needs so it never runs dry.
        """
        resampler = Resampler(input_rate, output_rate, quality=quality)
        chunk = np.zeros(input_rate * chunk_ms // 1000, np.float32)
        produced = 0
        worst = 0
        for index in range(int(seconds * 1000 / chunk_ms)):
            resampler.push(chunk)
            produced += len(resampler.fifo.pop_all())
            ideal = (index + 1) * output_rate * chunk_ms // 1000
            worst = max(worst, ideal - produced)
        return worst / output_rate
