"""Streaming resampling with two engines, and a FIFO that hands out exact frames.

A call resamples between the codec's rate and the app's rate 20 ms at a
time, so the resampler keeps state across chunks (they join without clicks)
and should add as little delay as it can: ITU-T G.114 puts the whole
mouth-to-ear budget at about 150 ms one way [ITU-T G.114], and a voice agent
spends most of that on recognition and synthesis. :class:`Resampler` has
two engines:

``"fir"``: a polyphase FIR filter in numpy (:class:`PolyphaseStream`) for
    ratios ``L/M`` with small ``L`` and ``M``, which covers every ratio
    telephony uses (8k<->16k, 16k<->48k, 8k<->48k, 8k<->24k, 24k->16k ...).
    The filter is a Kaiser-windowed sinc at the lower of the two Nyquist
    frequencies (:func:`polyphase_design`, one per ratio): flat within 0.1 dB
    up to 0.85 x that Nyquist (3.4 kHz at 8 kHz: the telephone band) and
    65 dB down from 1.1 x on (60 dB required). Like soxr, it compensates its
    delay: output sample ``k`` is the signal at input time
    ``k / output_rate``, nothing is cut at the start, and
    :meth:`Resampler.finish` produces the last samples. Their wait is the
    whole delay: the filter's group delay, ``(taps - 1) / 2`` samples at the
    high rate ``L x input_rate``, about 2 ms when one side is 8 kHz and 1 ms
    between 16 and 48 kHz, for any chunking; every push gives all the output
    it can at once.
``"soxr"``: libsoxr's streaming resampler, for every other ratio (44.1 kHz
    and friends) or when asked for. ``quality`` is soxr's. It works in
    internal blocks: at HQ a 20 ms chunk often gives nothing out and then a
    burst, which delays frames by about 115 ms between 8 and 16 kHz and
    37 ms between 16 and 48 kHz.

``engine="auto"`` (the default) takes the FIR engine where
:func:`fir_applies` and soxr elsewhere. Either way the output goes through a
:class:`FrameFIFO`, from which :meth:`Resampler.pop_frames` hands out frames
of exactly the requested size. :meth:`Resampler.measure_delay` measures the
delay a frame reader sees (the FIFO's worst shortfall against a perfect,
delay-free resampler), :attr:`Resampler.latency` gives it per instance, and
:attr:`Resampler.holding` says whether :meth:`Resampler.finish` would give
more; ``bench/`` prints the table. :func:`resample` does a whole signal at
once, with soxr by default: offline there is no delay to save.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

from voip_core.codecs.base import FloatArray

__all__ = [
    "EngineChoice",
    "FrameFIFO",
    "PolyphaseDesign",
    "PolyphaseStream",
    "Resampler",
    "fir_applies",
    "polyphase_design",
    "resample",
]

#: ``"auto"``: the FIR engine where :func:`fir_applies`, else soxr.
EngineChoice = Literal["auto", "fir", "soxr"]

#: Passband edge of the FIR engine, as a fraction of the lower Nyquist frequency.
PASSBAND_EDGE = 0.85
#: Stopband edge of the FIR engine, as a fraction of the lower Nyquist frequency.
STOPBAND_EDGE = 1.1
#: Largest passband ripple (peak to peak, dB) a FIR design may have.
PASSBAND_RIPPLE_DB = 0.1
#: Smallest stopband attenuation (dB) a FIR design may have: the 60 dB
#: required, plus 5 dB so that float32 arithmetic never eats into it.
STOPBAND_ATTENUATION_DB = 65.0
#: ``engine="auto"`` takes the FIR engine when the reduced ratio ``L/M`` has
#: ``max(L, M)`` at most this (8k->96k is 12); soxr beyond (44.1k->16k is 160/441).
AUTO_FIR_MAX_FACTOR = 12
#: Cost of copying one input sample into the matrix product's window rows,
#: in multiply-adds: sets the FIR engine's block size (see :func:`_block_outputs`).
_COPY_COST = 8.0
#: Input samples the FIR engine takes per matrix product; longer pushes are cut.
_PIECE = 4096

_EMPTY = np.zeros(0, np.float32)
_Float64Array = npt.NDArray[np.float64]


def resample(
    audio: FloatArray,
    input_rate: int,
    output_rate: int,
    quality: str = "HQ",
    *,
    engine: EngineChoice = "soxr",
) -> FloatArray:
    """Resample a whole signal in one go (no state kept).

    Args:
        audio: Mono float32 samples at ``input_rate``.
        input_rate: Sample rate of ``audio``.
        output_rate: Sample rate wanted.
        quality: soxr quality (``engine="soxr"`` only).
        engine: ``"soxr"`` (default: offline, its delay does not matter),
            ``"fir"`` or ``"auto"``: the same result as a :class:`Resampler`
            with that engine fed ``audio`` in any chunks and then flushed.

    >>> len(resample(np.zeros(8000, np.float32), 8000, 16000))
    16000
    >>> len(resample(np.zeros(8000, np.float32), 8000, 16000, engine="fir"))
    16000
    """
    if input_rate == output_rate:
        return np.asarray(audio, dtype=np.float32)
    if _resolve_engine(input_rate, output_rate, engine) == "fir":
        resampler = Resampler(input_rate, output_rate, engine="fir")
        resampler.push(audio)
        return resampler.flush()
    import soxr

    out: FloatArray = soxr.resample(
        np.asarray(audio, dtype=np.float32), input_rate, output_rate, quality
    )
    return out


def _ratio(input_rate: int, output_rate: int) -> tuple[int, int]:
    """``(L, M)``: ``output_rate / input_rate`` in lowest terms."""
    ratio = Fraction(output_rate, input_rate)
    return ratio.numerator, ratio.denominator


def fir_applies(input_rate: int, output_rate: int) -> bool:
    """Whether ``engine="auto"`` resamples between these rates with the FIR engine.

    >>> fir_applies(8000, 48000), fir_applies(24000, 16000), fir_applies(44100, 16000)
    (True, True, False)
    """
    return max(_ratio(input_rate, output_rate)) <= AUTO_FIR_MAX_FACTOR


def _resolve_engine(
    input_rate: int, output_rate: int, engine: EngineChoice
) -> Literal["fir", "soxr"]:
    if engine == "auto":
        return "fir" if fir_applies(input_rate, output_rate) else "soxr"
    if engine not in ("fir", "soxr"):
        raise ValueError(f"unknown resampler engine {engine!r}: 'auto', 'fir' or 'soxr'")
    return engine


# The FIR engine ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PolyphaseDesign:
    """A low-pass FIR filter for resampling by ``up / down``, and its polyphase matrix.

    The filter runs, conceptually, at the high rate ``up x input_rate``
    between zero-stuffing by ``up`` and keeping every ``down``-th sample
    [Crochiere & Rabiner, "Interpolation and decimation of digital signals:
    a tutorial review", Proc. IEEE 69(3), 1981, §III]. In polyphase form
    only the outputs that are kept are computed, and only from real input
    samples (never the stuffed zeros): the outputs are cut into blocks, and
    a block's outputs are one window of the input times :attr:`matrix`,
    whose columns hold the filter's phases.

    Attributes:
        up: ``L``, the interpolation factor.
        down: ``M``, the decimation factor (``gcd(L, M) == 1``).
        taps: The prototype filter at the high rate (float64, read-only),
            with DC gain ``up`` (interpolation's zero-stuffing loses the rest).
        delay: Group delay, ``(len(taps) - 1) // 2`` samples at the high rate.
        design_attenuation_db: The Kaiser design's ``A`` that met the targets.
        passband_ripple_db: Measured peak-to-peak ripple up to ``PASSBAND_EDGE``.
        stopband_attenuation_db: Measured attenuation from ``STOPBAND_EDGE`` on.
        block_outputs: Output samples per block (a multiple of ``up``).
        block_inputs: Input samples per block (``block_outputs * down / up``).
        window_start: First input of block ``b``'s window, relative to
            ``b * block_inputs`` (zero or negative: the past).
        matrix: ``(window, block_outputs)`` float32: block ``b``'s outputs
            are ``input[b * block_inputs + window_start :][:window] @ matrix``.
    """

    up: int
    down: int
    taps: _Float64Array
    delay: int
    design_attenuation_db: float
    passband_ripple_db: float
    stopband_attenuation_db: float
    block_outputs: int
    block_inputs: int
    window_start: int
    matrix: FloatArray

    @property
    def window(self) -> int:
        """Input samples each block reads."""
        return int(self.matrix.shape[0])

    def group_delay(self, input_rate: int) -> float:
        """The filter's group delay in seconds, at ``input_rate`` in."""
        return self.delay / (self.up * input_rate)


def _kaiser_lowpass(up: int, down: int, attenuation_db: float) -> _Float64Array:
    """A Kaiser-windowed sinc low-pass for the high rate of ``up / down``.

    Order and shape from Kaiser's formulas [J. F. Kaiser, "Nonrecursive
    digital filter design using the I0-sinh window function", Proc. IEEE
    ISCAS 1974]: ``beta = 0.1102 (A - 8.7)`` for ``A > 50`` dB and order
    ``(A - 7.95) / (2.285 dw)`` for a transition ``dw`` rad/sample wide. The
    cutoff sits midway between the passband and stopband edges; the order is
    made even so the group delay is a whole number of samples.
    """
    lower_nyquist = 0.5 / max(up, down)  # cycles per high-rate sample
    passband_edge = PASSBAND_EDGE * lower_nyquist
    stopband_edge = STOPBAND_EDGE * lower_nyquist
    cutoff = (passband_edge + stopband_edge) / 2
    transition = 2 * math.pi * (stopband_edge - passband_edge)
    order = math.ceil((attenuation_db - 7.95) / (2.285 * transition))
    order += order % 2
    beta = 0.1102 * (attenuation_db - 8.7)
    offsets = np.arange(order + 1) - order / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * offsets) * np.kaiser(order + 1, beta)
    result: _Float64Array = taps * (up / taps.sum())
    return result


def _response_figures(taps: _Float64Array, up: int, down: int) -> tuple[float, float]:
    """``(passband ripple dB, stopband attenuation dB)`` of ``taps``, from a dense FFT."""
    lower_nyquist = 0.5 / max(up, down)
    size = 1 << max(14, math.ceil(math.log2(16 * len(taps))))
    magnitude = np.abs(np.fft.rfft(taps / up, size))
    frequency = np.arange(len(magnitude)) / size
    passband = magnitude[frequency <= PASSBAND_EDGE * lower_nyquist]
    stopband = magnitude[frequency >= STOPBAND_EDGE * lower_nyquist]
    ripple = 20 * math.log10(float(passband.max()) / float(passband.min()))
    attenuation = -20 * math.log10(max(float(stopband.max()), 1e-300))
    return ripple, attenuation


def _polyphase_matrix(
    taps: _Float64Array, up: int, down: int, delay: int, block_outputs: int
) -> tuple[int, FloatArray]:
    """``(window_start, matrix)`` for blocks of ``block_outputs`` outputs.

    Output ``k`` is the filtered, zero-stuffed input at high-rate time
    ``t = k * down + delay`` (``delay`` later than the plain product, which
    compensates the group delay). Input ``n`` sits at high-rate time
    ``n * up``, so it meets tap ``t - n * up``. Relative to its block, output
    ``u`` (``k = b * block_outputs + u``) and input ``r``
    (``n = b * block_inputs + r``) meet at tap ``u * down + delay - r * up``.
    """
    last_tap = len(taps) - 1
    first = math.ceil((delay - last_tap) / up)
    last = ((block_outputs - 1) * down + delay) // up
    relative = np.arange(first, last + 1)[:, None]
    tap = np.arange(block_outputs)[None, :] * down + delay - relative * up
    inside = (tap >= 0) & (tap <= last_tap)
    matrix = np.where(inside, taps[np.clip(tap, 0, last_tap)], 0.0)
    return first, matrix.astype(np.float32)


def _block_outputs(up: int, down: int, length: int) -> int:
    """Output samples per block: a multiple of ``up`` near ``sqrt(_COPY_COST * length / down)``.

    Per output, a block of ``B`` outputs copies ``window / B`` input samples
    into the product's rows and multiplies ``window`` of them, where
    ``window`` is about ``B * down / up + length / up``; the sum of the two
    costs is least at that ``B``.
    """
    best = math.sqrt(_COPY_COST * length / down)
    return up * max(1, round(best / up))


@functools.lru_cache(maxsize=64)
def polyphase_design(up: int, down: int) -> PolyphaseDesign:
    """The FIR engine's filter for resampling by ``up / down`` (cached per ratio).

    Starts from a Kaiser design at ``STOPBAND_ATTENUATION_DB`` and raises
    ``A`` until the measured response meets ``PASSBAND_RIPPLE_DB`` and
    ``STOPBAND_ATTENUATION_DB`` (Kaiser's order formula is an estimate).

    >>> design = polyphase_design(2, 1)  # 8k -> 16k
    >>> len(design.taps), design.delay, design.stopband_attenuation_db >= 65
    (67, 33, True)
    """
    if up < 1 or down < 1 or math.gcd(up, down) != 1:
        raise ValueError(f"need coprime factors >= 1, not {up}/{down}")
    attenuation = STOPBAND_ATTENUATION_DB
    while True:
        taps = _kaiser_lowpass(up, down, attenuation)
        ripple, stopband = _response_figures(taps, up, down)
        if ripple <= PASSBAND_RIPPLE_DB and stopband >= STOPBAND_ATTENUATION_DB:
            break
        attenuation += 1.0
    taps.flags.writeable = False
    delay = (len(taps) - 1) // 2
    block_outputs = _block_outputs(up, down, len(taps))
    window_start, matrix = _polyphase_matrix(taps, up, down, delay, block_outputs)
    matrix.flags.writeable = False
    return PolyphaseDesign(
        up=up,
        down=down,
        taps=taps,
        delay=delay,
        design_attenuation_db=attenuation,
        passband_ripple_db=ripple,
        stopband_attenuation_db=stopband,
        block_outputs=block_outputs,
        block_inputs=block_outputs * down // up,
        window_start=window_start,
        matrix=matrix,
    )


class PolyphaseStream:
    """One stream through a :class:`PolyphaseDesign`, state kept across chunks.

    The input lives in a fixed buffer whose overlapping block windows are one
    strided view made once; each chunk costs a copy into the buffer and one
    matrix product over the windows of the blocks it completes (or starts:
    the samples not yet pushed read as zeros, and no output that needs them
    is handed out). Output ``k`` is handed out as soon as the input it needs
    has arrived, which is ``delay / up`` input samples after ``k``'s own time.
    Any chunking gives the same output as one piece (up to float32 rounding
    in the matrix product), ``round(n * up / down)`` samples for ``n`` in.

    Args:
        design: The filter (see :func:`polyphase_design`).

    Example:
        >>> stream = PolyphaseStream(polyphase_design(2, 1))
        >>> len(stream.process(np.ones(160, np.float32), False))  # 33 held back
        287
        >>> len(stream.process(np.zeros(0, np.float32), True))  # end of stream: the rest
        33
    """

    __slots__ = (
        "_buffer",
        "_design",
        "_emitted",
        "_first_block",
        "_limit",
        "_matrix",
        "_origin",
        "_products",
        "_received",
        "_scratch",
        "_shape",
        "_windows",
    )

    def __init__(self, design: PolyphaseDesign) -> None:
        self._design = design
        self._shape = (design.up, design.down, design.delay, design.block_outputs)
        self._matrix = design.matrix
        window = design.window
        # Room for a piece, what is kept between pieces (less than one window
        # and a block), and zeros past the input for the last blocks' windows.
        margin = window + design.block_inputs
        capacity = _PIECE + 3 * margin
        self._limit = capacity - margin
        self._buffer = np.zeros(capacity, np.float32)
        self._windows: FloatArray = np.lib.stride_tricks.as_strided(
            self._buffer,
            shape=((capacity - window) // design.block_inputs + 1, window),
            strides=(design.block_inputs * self._buffer.itemsize, self._buffer.itemsize),
            writeable=False,
        )
        # The products land in one scratch array (no allocation per chunk),
        # through a 2-D view per row count.
        self._scratch = _EMPTY
        self._products: dict[int, FloatArray] = {}
        self._received = 0
        self._emitted = 0
        # Block whose window starts at buffer position 0, and the input index there.
        self._first_block = 0
        self._origin = design.window_start

    @property
    def received(self) -> int:
        """Input samples taken since the stream started."""
        return self._received

    @property
    def emitted(self) -> int:
        """Output samples handed out since the stream started."""
        return self._emitted

    def process(self, chunk: FloatArray, last: bool) -> FloatArray:
        """Resample the next ``chunk``; ``last`` ends the stream and returns its tail.

        The result is a view of a scratch array that the next call
        overwrites: copy it (:meth:`FrameFIFO.push` does) before calling
        again. After ``last`` the stream starts afresh (silence before its
        first sample).
        """
        count = len(chunk)
        if count > _PIECE:
            pieces = [
                self.process(chunk[start : start + _PIECE], False).copy()
                for start in range(0, count, _PIECE)
            ]
            pieces.append(self.process(_EMPTY, last).copy() if last else _EMPTY)
            return np.concatenate(pieces)
        write = self._received - self._origin
        if write + count > self._limit:
            write = self._compact()
        self._buffer[write : write + count] = chunk
        received = self._received = self._received + count
        up, down, delay, block_outputs = self._shape
        if last:
            # As many as soxr makes: n * L / M rounded (half up).
            available = (2 * received * up + down) // (2 * down)
        else:
            # Output k needs input up to (k * M + delay) // L.
            available = (received * up - 1 - delay) // down + 1
        start = self._emitted
        if available <= start:
            if last:
                self._restart()
            return _EMPTY
        first_block = self._first_block
        first_row = start // block_outputs
        end_row = (available - 1) // block_outputs + 1
        rows = end_row - first_row
        product = self._products.get(rows)
        if product is None:
            product = self._product_view(rows)
        np.dot(
            self._windows[first_row - first_block : end_row - first_block],
            self._matrix,
            out=product,
        )
        self._emitted = available
        skip = start - first_row * block_outputs
        out = self._scratch[skip : skip + available - start]
        if last:
            self._restart()
        return out

    def _product_view(self, rows: int) -> FloatArray:
        """A ``(rows, block_outputs)`` view of the scratch array, which grows as needed."""
        block_outputs = self._shape[3]
        if len(self._scratch) < rows * block_outputs:
            self._scratch = np.zeros(
                max(rows, 2 * len(self._scratch) // block_outputs) * block_outputs, np.float32
            )
            self._products.clear()
        product = self._scratch[: rows * block_outputs].reshape(rows, block_outputs)
        self._products[rows] = product
        return product

    def _compact(self) -> int:
        """Move the input still needed (from the next output's block on) to the front.

        Returns the buffer position of the next input sample.
        """
        keep_block = self._emitted // self._shape[3]
        shift = (keep_block - self._first_block) * self._design.block_inputs
        write = self._received - self._origin
        if shift:
            self._buffer[: write - shift] = self._buffer[shift:write]
            self._buffer[write - shift : write] = 0.0
            self._first_block = keep_block
            self._origin += shift
        return write - shift

    def _restart(self) -> None:
        self._buffer[: self._received - self._origin] = 0.0
        self._received = self._emitted = self._first_block = 0
        self._origin = self._design.window_start


class _SoxrStream:
    """soxr's streaming resampler, counting samples in and out like :class:`PolyphaseStream`."""

    __slots__ = ("_engine", "emitted", "received")

    def __init__(self, input_rate: int, output_rate: int, quality: str) -> None:
        self._engine = self._make(input_rate, output_rate, quality)
        self.received = 0
        self.emitted = 0

    @staticmethod
    def _make(
        input_rate: int, output_rate: int, quality: str
    ) -> Callable[[FloatArray, bool], FloatArray]:
        try:
            # soxr's C object straight: the Python wrapper's checks and reshapes
            # cost more than the resampling of a 20 ms chunk.
            from soxr import soxr_ext

            engine = soxr_ext.CSoxr(
                input_rate,
                output_rate,
                1,
                soxr_ext.SOXR_FLOAT32_I,
                getattr(soxr_ext, quality),
                False,
            )

            def process(chunk: FloatArray, last: bool) -> FloatArray:
                out: FloatArray = engine.process_float32(chunk[:, None], last)[:, 0]
                return out

            return process
        except (ImportError, AttributeError, TypeError):  # pragma: no cover - other soxr builds
            import soxr

            stream = soxr.ResampleStream(
                input_rate, output_rate, 1, dtype="float32", quality=quality
            )

            def process_with_wrapper(chunk: FloatArray, last: bool) -> FloatArray:
                out: FloatArray = stream.resample_chunk(chunk, last=last)
                return out

            return process_with_wrapper

    def process(self, chunk: FloatArray, last: bool) -> FloatArray:
        """Resample the next ``chunk``; ``last`` ends the stream."""
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        out = self._engine(chunk, last)
        self.received += len(chunk)
        self.emitted += len(out)
        return out


# The FIFO and the resampler ----------------------------------------------------------------


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
        quality: soxr quality (``"HQ"``, ``"MQ"``, ``"LQ"``, ``"QQ"``, ``"VHQ"``);
            the FIR engine has one design and ignores it.
        engine: ``"auto"`` (FIR where :func:`fir_applies`, else soxr),
            ``"fir"`` (any ratio, though large ``L`` or ``M`` make long
            filters) or ``"soxr"``. :attr:`engine` is the one chosen.

    Example:
        >>> r = Resampler(8000, 16000)
        >>> r.engine, round(r.latency * 1000, 2)  # the FIR engine: 2 ms delay
        ('fir', 2.06)
        >>> r.push(np.zeros(160, np.float32))  # 20 ms in
        >>> frames = list(r.pop_frames(320))   # 287 samples out: no whole frame yet
        >>> r.holding                          # the compensated delay's 33 are inside
        True
        >>> tail = r.flush()                   # end of stream: everything out
        >>> sum(len(f) for f in frames) + len(tail)
        320
    """

    def __init__(
        self,
        input_rate: int,
        output_rate: int,
        *,
        quality: str = "HQ",
        engine: EngineChoice = "auto",
    ) -> None:
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.quality = quality
        self.engine: Literal["fir", "soxr"] = _resolve_engine(input_rate, output_rate, engine)
        self.fifo = FrameFIFO()
        self._design: PolyphaseDesign | None = None
        if self.engine == "fir" and not self.passthrough:
            self._design = polyphase_design(*_ratio(input_rate, output_rate))
        self._passthrough = input_rate == output_rate
        self._stream: PolyphaseStream | _SoxrStream | None = None

    @property
    def passthrough(self) -> bool:
        """True when both rates are equal and samples are only buffered."""
        return self.input_rate == self.output_rate

    @property
    def holding(self) -> bool:
        """True when the engine holds input whose output it has not produced yet.

        That is, :meth:`finish` would add samples to the FIFO: soxr's block
        in progress, or the FIR engine's last ``delay / down`` output samples
        (which need input that has not come yet, or the end of the stream).
        """
        stream = self._stream
        if stream is None:
            return False
        expected = (2 * stream.received * self.output_rate + self.input_rate) // (
            2 * self.input_rate
        )
        return stream.emitted < expected

    @property
    def latency(self) -> float:
        """Worst-case delay, in seconds, this resampler adds between input and popped frames.

        FIR: the filter's group delay (no chunking makes it worse).
        soxr: :meth:`measure_delay` with 20 ms chunks. Passthrough: 0.
        Cached per rate pair, engine (and soxr quality).
        """
        return _latency(
            self.input_rate,
            self.output_rate,
            self.engine,
            self.quality if self.engine == "soxr" else "",
        )

    def push(self, audio: FloatArray) -> None:
        """Resample ``audio`` and buffer the result.

        With the FIR engine the output of every push comes out at once but
        for the last ``delay / down`` samples; soxr's may arrive later, in bursts.
        """
        stream = self._stream
        if stream is None:
            if self._passthrough:
                self.fifo.push(audio)
                return
            if self._design is not None:
                stream = self._stream = PolyphaseStream(self._design)
            else:
                stream = self._stream = _SoxrStream(self.input_rate, self.output_rate, self.quality)
        self.fifo.push(stream.process(audio, False))

    def pop_frames(self, frame_size: int) -> Iterator[FloatArray]:
        """Every whole frame of ``frame_size`` samples buffered so far."""
        while (frame := self.fifo.pop(frame_size)) is not None:
            yield frame

    def finish(self) -> None:
        """End the stream: move the engine's tail into the FIFO.

        The next :meth:`push` starts a fresh stream (silence before it), so
        this belongs where the audio has a gap anyway (end of an utterance).
        """
        if self._stream is not None:
            self.fifo.push(self._stream.process(_EMPTY, True))
            self._stream = None

    def flush(self) -> FloatArray:
        """End the stream and return everything buffered (see :meth:`finish`)."""
        self.finish()
        return self.fifo.pop_all()

    def reset(self) -> None:
        """Drop buffered audio and the engine's state."""
        self.fifo.clear()
        self._stream = None

    @staticmethod
    def measure_delay(
        input_rate: int,
        output_rate: int,
        *,
        quality: str = "HQ",
        engine: EngineChoice = "auto",
        chunk_ms: int = 20,
        seconds: float = 2.0,
    ) -> float:
        """Worst added delay, in seconds, of frames popped from a streaming resampler.

        Feeds ``chunk_ms`` chunks and, after each, compares how many output
        samples a perfect resampler would have produced with how many the
        FIFO holds: the largest shortfall is the pre-roll a real-time reader
        needs so it never runs dry. Both engines compensate their filter's
        delay, so this is the delay: for the FIR engine its group delay
        rounded down to whole output samples, for soxr its block.
        """
        resampler = Resampler(input_rate, output_rate, quality=quality, engine=engine)
        chunk = np.zeros(input_rate * chunk_ms // 1000, np.float32)
        produced = 0
        worst = 0
        for index in range(int(seconds * 1000 / chunk_ms)):
            resampler.push(chunk)
            produced += len(resampler.fifo.pop_all())
            ideal = (index + 1) * output_rate * chunk_ms // 1000
            worst = max(worst, ideal - produced)
        return worst / output_rate


@functools.lru_cache(maxsize=128)
def _latency(
    input_rate: int, output_rate: int, engine: Literal["fir", "soxr"], quality: str
) -> float:
    if input_rate == output_rate:
        return 0.0
    if engine == "fir":
        return polyphase_design(*_ratio(input_rate, output_rate)).group_delay(input_rate)
    return Resampler.measure_delay(input_rate, output_rate, quality=quality, engine="soxr")
