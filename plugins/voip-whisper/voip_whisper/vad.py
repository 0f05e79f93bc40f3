"""Silero VAD, frame by frame, with the ONNX model that faster-whisper ships in its wheel.

faster-whisper carries Silero VAD for its ``vad_filter`` (``assets/`` in the
package: ``silero_vad_v6.onnx`` from 1.2, an encoder/decoder pair
``silero_*_v5.onnx`` in 1.1). Here the same model runs as a stream: every
512 samples (32 ms at 16 kHz), with the 64 samples before them as context
and the recurrent state carried from window to window, which gives exactly
the probabilities faster-whisper's batch call gives for the whole signal.

One :class:`SileroModel` (an onnxruntime session, one thread) serves the
whole process; each call has its own :class:`SileroVoiceDetector` (state,
context, the samples of an unfinished window). A window costs about 0.2 ms
of CPU, so the detector runs inline in the event loop, as the energy
threshold does (see ``bench/cases_whisper.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voip_core.errors import PluginError

__all__ = [
    "SileroModel",
    "SileroVoiceDetector",
    "silero_model",
    "silero_model_if_loaded",
    "silero_model_path",
]

FloatArray = npt.NDArray[np.float32]

#: The model hears 16 kHz audio in windows of 512 samples, each with 64 samples of context.
SILERO_RATE = 16000
WINDOW = 512
CONTEXT = 64


def silero_model_path() -> list[Path]:
    """The Silero ONNX file(s) inside the installed faster-whisper, without importing it.

    Raises:
        PluginError: faster-whisper is not installed, or ships no Silero model.
    """
    try:
        spec = importlib.util.find_spec("faster_whisper")
    except (ImportError, ValueError):  # blocked or half-imported
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(
            "the Silero VAD comes with faster-whisper, which is not installed: "
            "pip install 'voip-whisper[engine]'"
        )
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    single = sorted(assets.glob("silero_vad*.onnx"))
    if single:
        return [single[-1]]
    encoder, decoder = (
        sorted(assets.glob("silero_encoder*.onnx")),
        sorted(assets.glob("silero_decoder*.onnx")),
    )
    if encoder and decoder:
        return [encoder[-1], decoder[-1]]
    raise PluginError(f"no Silero VAD model in {assets} (faster-whisper >= 1.1 ships one)")


class SileroModel:
    """The Silero network: one window in, its speech probability out (thread-safe)."""

    def __init__(self, paths: list[Path]) -> None:
        try:
            onnxruntime: Any = importlib.import_module("onnxruntime")
        except ImportError as error:
            raise PluginError(
                f"the Silero VAD needs onnxruntime ({error}): pip install 'voip-whisper[engine]'"
            ) from error
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4

        def session(path: Path) -> Any:
            return onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )

        self.paths = paths
        self._sessions = [session(path) for path in paths]
        self.state_shapes: list[tuple[int, ...]] = (
            [(1, 1, 128), (1, 1, 128)] if len(paths) == 1 else [(2, 1, 128)]
        )
        names = {node.name for node in self._sessions[-1].get_inputs()}
        wanted = {"input", "h", "c"} if len(paths) == 1 else {"input", "state"}
        if names != wanted:
            raise PluginError(
                f"{paths[-1].name}: inputs {sorted(names)}, expected {sorted(wanted)} "
                "(a Silero VAD this plugin does not know)"
            )

    def new_state(self) -> list[FloatArray]:
        """The recurrent state at the start of a stream."""
        return [np.zeros(shape, np.float32) for shape in self.state_shapes]

    def probability(self, window: FloatArray, state: list[FloatArray]) -> float:
        """Speech probability of one window (``CONTEXT + WINDOW`` samples); updates ``state``."""
        batch = window.reshape(1, CONTEXT + WINDOW)
        if len(self._sessions) == 1:  # v6: one network, LSTM state h and c
            output, state[0], state[1] = self._sessions[0].run(
                None, {"input": batch, "h": state[0], "c": state[1]}
            )
        else:  # v5: an encoder, then a decoder with a stacked state
            encoded = self._sessions[0].run(None, {"input": batch})[0]
            output, state[0] = self._sessions[1].run(
                None, {"input": encoded.reshape(1, -1), "state": state[0]}
            )
        return float(np.asarray(output).reshape(-1)[0])


_model: SileroModel | None = None
_model_lock = threading.Lock()


def silero_model_if_loaded() -> SileroModel | None:
    """The process's Silero model if it is loaded already, else None."""
    return _model


def silero_model() -> SileroModel:
    """The process's Silero model, loaded on first call (about 0.1 s: call it off the loop)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = SileroModel(silero_model_path())
    return _model


class SileroVoiceDetector:
    """One call's Silero VAD: frames in, voiced or not out.

    A frame is voiced while the probability of the latest complete window
    is at least ``threshold``, and, once speech has started, until it falls
    below ``neg_threshold`` (``threshold - 0.15``), as faster-whisper's
    ``get_speech_timestamps`` does. Frames of any length; the decision for
    a frame uses every complete window up to its end (up to 32 ms behind).

    Args:
        model: The shared :class:`SileroModel`.
        threshold: Probability from which a window is speech.
        neg_threshold: Probability under which speech has ended.
    """

    def __init__(
        self,
        model: SileroModel,
        *,
        threshold: float = 0.5,
        neg_threshold: float | None = None,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.neg_threshold = (
            neg_threshold if neg_threshold is not None else max(threshold - 0.15, 0.01)
        )
        self._state = model.new_state()
        self._window = np.zeros(CONTEXT + WINDOW, np.float32)
        self._filled = CONTEXT  # the first context is silence
        #: Speech probability of the latest window.
        self.probability = 0.0
        self.speaking = False
        #: Windows run so far.
        self.windows = 0

    def voiced(self, frame: FloatArray) -> bool:
        """Feed one frame (16 kHz float32); True while speech goes on."""
        samples = np.asarray(frame, np.float32)
        window = self._window
        while len(samples):
            take = min(len(samples), len(window) - self._filled)
            window[self._filled : self._filled + take] = samples[:take]
            self._filled += take
            samples = samples[take:]
            if self._filled == len(window):
                self.probability = self.model.probability(window, self._state)
                self.windows += 1
                window[:CONTEXT] = window[-CONTEXT:]
                self._filled = CONTEXT
                if self.probability >= self.threshold:
                    self.speaking = True
                elif self.probability < self.neg_threshold:
                    self.speaking = False
        return self.speaking
