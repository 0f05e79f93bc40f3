"""A streaming polyphase FIR resampler in numpy, for the ratios telephony uses.

:class:`PolyphaseStream` resamples by ``L/M`` with a Kaiser-windowed sinc
designed once per ratio (:func:`polyphase_design`): flat within 0.1 dB up to
0.85 x the lower Nyquist frequency, 65 dB down from 1.1 x on. It keeps its
state across chunks, so any chunking gives the same output as one piece, and
it compensates its group delay (about 2 ms when one side is 8 kHz), so its
output lines up with soxr's. :class:`voip_core.resample.Resampler` picks it
for every small-ratio pair, where soxr's block processing would add 37 to
175 ms [ITU-T G.114 puts the one-way budget at about 150 ms].
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import numpy.typing as npt

from voip_core.codecs.base import FloatArray

__all__ = [
    "PASSBAND_EDGE",
    "PASSBAND_RIPPLE_DB",
    "STOPBAND_ATTENUATION_DB",
    "STOPBAND_EDGE",
    "PolyphaseDesign",
    "PolyphaseStream",
    "polyphase_design",
]

_Float64Array = npt.NDArray[np.float64]
_EMPTY: FloatArray = np.zeros(0, np.float32)

#: Passband edge of the FIR engine, as a fraction of the lower Nyquist frequency.
PASSBAND_EDGE = 0.85
#: Stopband edge of the FIR engine, as a fraction of the lower Nyquist frequency.
STOPBAND_EDGE = 1.1
#: Largest passband ripple (peak to peak, dB) a FIR design may have.
PASSBAND_RIPPLE_DB = 0.1
#: Smallest stopband attenuation (dB) a FIR design may have: the 60 dB
#: required, plus 5 dB so that float32 arithmetic never eats into it.
STOPBAND_ATTENUATION_DB = 65.0
#: Cost of copying one input sample into the matrix product's window rows,
#: in multiply-adds: sets the FIR engine's block size (see :func:`_block_outputs`).
_COPY_COST = 8.0
#: Input samples the FIR engine takes per matrix product; longer pushes are cut.
_PIECE = 4096


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
