"""The faster-whisper backend: one model per process, loaded on first use, run in a bounded pool.

Every :class:`WhisperSTT` of a process shares two things:

- the models, keyed by (model directory, device, compute type): the first
  utterance loads a model, every later utterance of every call reuses it;
- one thread pool (:func:`pool_size` threads, ``min(2, CPUs)`` by default),
  where the engine is imported, models are located and loaded, audio is
  resampled and transcribed. The event loop only waits for the pool's
  futures, so it never blocks; when more utterances arrive than there are
  workers they queue, instead of all running at once and thrashing the CPU.
  CTranslate2 gets ``num_workers`` = pool size (each pool thread can run the
  model in parallel) and ``cpu_threads`` = CPUs // pool size, so that the
  pool, fully busy, uses every core once.

Models are found the way faster-whisper finds them, without ever waiting on
the network when it cannot help: a local CTranslate2 directory is used as it
is; a name (``"base"``, ``"large-v3"``, ``"Systran/faster-whisper-small"``)
is looked up in the Hugging Face cache first, and downloaded only when it is
not there, ``download`` is on and ``HF_HUB_OFFLINE`` is not set. Every way
this can fail ends in a :class:`~voip_core.errors.PluginError` that says what
to do.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voip_core.errors import PluginError

__all__ = [
    "DEVICES",
    "PoolStats",
    "WhisperSTT",
    "clear_models",
    "default_workers",
    "pool_size",
    "pool_stats",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

#: The devices a backend can ask for (``"auto"``: CUDA when CTranslate2 sees a GPU, else CPU).
DEVICES = ("cpu", "cuda", "auto")
#: Whisper hears 16 kHz audio.
WHISPER_RATE = 16000
#: A model that failed to load is not tried again for this many seconds (each
#: utterance would otherwise retry a download that just failed).
RETRY_AFTER_S = 30.0

_INSTALL_HINT = "pip install 'voip-whisper[engine]' (or: pip install 'faster-whisper>=1.1')"


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Pool threads when no backend asks otherwise: ``min(2, usable CPUs)``."""
    return min(2, _usable_cpus())


# The pool ---------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class PoolStats:
    """What the shared pool is doing (see :func:`pool_stats`).

    Attributes:
        workers: Threads in the pool (0: not started yet).
        running: Jobs running now (at most ``workers``).
        queued: Jobs waiting for a free worker.
        peak_running: Most jobs that ever ran at once.
        transcribed: Utterances transcribed so far.
        audio_seconds: Seconds of audio they held.
        busy_seconds: Seconds the workers spent transcribing them.
    """

    workers: int
    running: int
    queued: int
    peak_running: int
    transcribed: int
    audio_seconds: float
    busy_seconds: float


class _Pool:
    """The process-wide worker pool and its counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self.workers = 0
        self.running = self.waiting = self.peak = self.transcribed = 0
        self.audio_seconds = self.busy_seconds = 0.0

    def executor(self, workers: int | None) -> ThreadPoolExecutor:
        """The pool, made on first use with ``workers`` threads (the first asker decides)."""
        executor = self._executor
        if executor is not None:
            if workers is not None and workers != self.workers:
                logger.debug(
                    "voip-whisper: the pool already has %d workers; workers=%d ignored",
                    self.workers,
                    workers,
                )
            return executor
        with self._lock:
            if self._executor is None:
                self.workers = workers or default_workers()
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="voip-whisper")
            return self._executor

    async def run(self, workers: int | None, job: Any, *arguments: Any) -> Any:
        """Run ``job(*arguments)`` in the pool; the event loop goes on meanwhile."""
        executor = self.executor(workers)
        started = False

        def counted() -> Any:
            nonlocal started
            with self._lock:
                started = True
                self.waiting -= 1
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                return job(*arguments)
            finally:
                with self._lock:
                    self.running -= 1

        def cancelled_in_queue(future: Future[Any]) -> None:
            with self._lock:
                if not started:
                    self.waiting -= 1

        with self._lock:
            self.waiting += 1
        future = executor.submit(counted)
        future.add_done_callback(cancelled_in_queue)
        return await asyncio.wrap_future(future)

    def count(self, audio_seconds: float, busy_seconds: float) -> None:
        with self._lock:
            self.transcribed += 1
            self.audio_seconds += audio_seconds
            self.busy_seconds += busy_seconds

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(
                workers=self.workers,
                running=self.running,
                queued=self.waiting,
                peak_running=self.peak,
                transcribed=self.transcribed,
                audio_seconds=self.audio_seconds,
                busy_seconds=self.busy_seconds,
            )

    def reset_peak(self) -> None:
        with self._lock:
            self.peak = self.running


_pool = _Pool()


def pool_size() -> int:
    """Threads in the shared pool (0 until the first utterance or :meth:`WhisperSTT.load`)."""
    return _pool.workers


def pool_stats(*, reset_peak: bool = False) -> PoolStats:
    """The shared pool's counters; ``reset_peak`` starts ``peak_running`` anew afterwards."""
    stats = _pool.stats()
    if reset_peak:
        _pool.reset_peak()
    return stats


# The models -------------------------------------------------------------------------------

#: (model as given, device as given, compute type as given, download root) -> engine model.
_by_request: dict[tuple[str, str, str | None, str | None], Any] = {}
#: (model directory, device, compute type) -> engine model: one per process.
_by_resolved: dict[tuple[str, str, str], Any] = {}
#: Requests whose load failed: when, and the error to raise again until RETRY_AFTER_S.
_failed: dict[tuple[str, str, str | None, str | None], tuple[float, PluginError]] = {}
_models_lock = threading.Lock()


def clear_models() -> None:
    """Forget every loaded model and remembered failure (the memory goes with the last call)."""
    with _models_lock:
        _by_request.clear()
        _by_resolved.clear()
        _failed.clear()


def _engine(name: str) -> Any:
    """Import ``faster_whisper`` or ``ctranslate2``, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise PluginError(
            f"the whisper STT backend needs faster-whisper, which is not installed "
            f"({error}): {_INSTALL_HINT}"
        ) from error


def _looks_like_path(model: str) -> bool:
    """A model given as a filesystem path rather than a size name or a Hub id (``org/name``)."""
    return (
        model.startswith(("/", ".", "~"))
        or "\\" in model
        or model.count("/") > 1
        or os.path.exists(os.path.expanduser(model))
    )


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _fetch_hint(model: str) -> str:
    return (
        "pass model=/path/to/a/CTranslate2/whisper/directory, or fetch the model beforehand "
        f'on a machine with network: python -c "import faster_whisper; '
        f"faster_whisper.download_model('{model}')\" (it lands in the Hugging Face cache, "
        "~/.cache/huggingface, which can be copied)"
    )


def _locate(model: str, *, download: bool, download_root: str | None) -> str:
    """The directory of ``model``: a local path, the Hugging Face cache, or a download."""
    if _looks_like_path(model):
        path = Path(model).expanduser()
        if not path.exists():
            raise PluginError(f"Whisper model path {model!r} does not exist")
        if not path.is_dir() or not (path / "model.bin").is_file():
            raise PluginError(
                f"Whisper model path {model!r} is not a CTranslate2 model directory (no "
                "model.bin): convert a Whisper model with ct2-transformers-converter, or pass "
                "a model name such as 'base'"
            )
        if not (path / "tokenizer.json").is_file():
            logger.warning(
                "%s has no tokenizer.json: faster-whisper will ask the Hugging Face Hub for "
                "openai/whisper-tiny's (copy tokenizer.json next to model.bin to stay offline)",
                path,
            )
        return str(path)
    faster_whisper = _engine("faster_whisper")
    if "/" not in model and model not in faster_whisper.available_models():
        raise PluginError(
            f"unknown Whisper model {model!r}: give a local CTranslate2 directory, a Hugging Face "
            f"id (org/name) or one of {', '.join(faster_whisper.available_models())}"
        )
    try:  # the cache: never the network
        return str(
            faster_whisper.download_model(model, local_files_only=True, cache_dir=download_root)
        )
    except Exception as error:  # the hub's LocalEntryNotFoundError and friends
        cached_error = error
    if not download or _hub_offline():
        why = "HF_HUB_OFFLINE is set" if _hub_offline() else "download=False"
        raise PluginError(
            f"Whisper model {model!r} is not in the local Hugging Face cache and cannot be "
            f"downloaded ({why}): {_fetch_hint(model)}"
        ) from cached_error
    logger.info("downloading Whisper model %r from the Hugging Face Hub", model)
    try:
        return str(faster_whisper.download_model(model, cache_dir=download_root))
    except Exception as error:
        raise PluginError(
            f"Whisper model {model!r} could not be downloaded ({type(error).__name__}: {error}); "
            f"{_fetch_hint(model)}"
        ) from error


def _cuda_devices() -> int:
    ctranslate2 = _engine("ctranslate2")
    try:
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # a broken CUDA installation counts as none
        return 0


def _compute_type(device: str, requested: str | None) -> str:
    if requested is not None:
        return requested
    if device == "cpu":
        return "int8"
    supported = _engine("ctranslate2").get_supported_compute_types("cuda")
    return "float16" if "float16" in supported else "default"


# The backend ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class WhisperSTT:
    """Speech to text with faster-whisper, one utterance at a time (the ``"whisper"`` backend).

    Made through the hook, ``voip_core.plugins.stt_backend("whisper", model="small")``,
    one per call; the model and the worker pool behind it are shared by the
    whole process (see the module's documentation).

    Args:
        model: A size name (``"base"``, ``"large-v3"``, ...), a Hugging Face
            id (``"Systran/faster-whisper-small"``) or the path of a
            CTranslate2 Whisper directory.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when CTranslate2
            finds a GPU and can load the model there, else CPU).
        compute_type: CTranslate2 compute type (``"int8"``, ``"float16"``,
            ``"int8_float16"``, ...); ``None``: int8 on CPU, float16 on CUDA.
        language: Language code (``"en"``), or ``None`` to detect it per utterance.
        beam_size: Beam width of the decoder (1 is greedy and fastest).
        initial_prompt: Text that conditions the decoder (names, jargon).
        vad_filter: Run faster-whisper's own Silero VAD over each utterance
            and transcribe only its speech.
        workers: Threads of the shared pool (default ``min(2, CPUs)``); the
            first backend that starts the pool decides.
        cpu_threads: CTranslate2 threads per worker (default CPUs // workers).
        download: Download a named model that is not in the Hugging Face
            cache (never when ``HF_HUB_OFFLINE`` is set).
        download_root: Hugging Face cache directory for named models.
        transcribe_options: More keyword arguments for
            ``WhisperModel.transcribe`` (``temperature``, ``hotwords``, ...).

    Raises:
        PluginError: On construction, for an unknown device, a bad number or
            a model path that does not exist; on first use, for what only the
            engine can tell (see :meth:`load`).
    """

    model: str = "base"
    device: str = "auto"
    compute_type: str | None = None
    language: str | None = None
    beam_size: int = 5
    initial_prompt: str | None = None
    vad_filter: bool = False
    workers: int | None = None
    cpu_threads: int | None = None
    download: bool = True
    download_root: str | None = None
    transcribe_options: Mapping[str, Any] = field(default_factory=dict)
    _whisper: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise PluginError(f"device={self.device!r}: one of {', '.join(DEVICES)}")
        for name in ("beam_size", "workers", "cpu_threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PluginError(f"{name}={value!r}: a whole number of at least 1")
        self.model = os.fspath(self.model)
        if _looks_like_path(self.model) and not Path(self.model).expanduser().exists():
            raise PluginError(f"Whisper model path {self.model!r} does not exist")

    # Loading ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Load the model now (in the pool), rather than with the first utterance.

        Raises:
            PluginError: faster-whisper is not installed; the model path does
                not exist or holds no CTranslate2 model; a named model is
                neither cached nor downloadable; ``device="cuda"`` without a
                usable GPU; the engine refused the model or compute type.
        """
        await _pool.run(self.workers, self._model)

    def _model(self) -> Any:
        """The engine's WhisperModel for these options (in a pool thread): shared, loaded once."""
        whisper = self._whisper
        if whisper is not None:
            return whisper
        request = (self.model, self.device, self.compute_type, self.download_root)
        with _models_lock:
            whisper = _by_request.get(request)
            if whisper is None:
                failure = _failed.get(request)
                if failure is not None and time.monotonic() - failure[0] < RETRY_AFTER_S:
                    raise failure[1]
                try:
                    whisper = self._load()
                except PluginError as error:
                    _failed[request] = (time.monotonic(), error)
                    raise
                _failed.pop(request, None)
                _by_request[request] = whisper
        self._whisper = whisper
        return whisper

    def _load(self) -> Any:
        """Locate, check the device, and load (holding ``_models_lock``)."""
        path = _locate(self.model, download=self.download, download_root=self.download_root)
        faster_whisper = _engine("faster_whisper")
        devices = ["cuda", "cpu"] if self.device == "auto" else [self.device]
        if "cuda" in devices and _cuda_devices() == 0:
            if self.device == "cuda":
                raise PluginError(
                    "device='cuda', but CTranslate2 finds no CUDA device (no GPU, or its driver "
                    "or the CUDA 12 runtime is missing); use device='cpu' or device='auto'"
                )
            devices = ["cpu"]
        workers = _pool.workers or self.workers or default_workers()
        for device in devices:
            compute_type = _compute_type(device, self.compute_type)
            key = (os.path.realpath(path), device, compute_type)
            if key in _by_resolved:
                return _by_resolved[key]
            threads = self.cpu_threads or max(1, _usable_cpus() // workers)
            started = time.perf_counter()
            try:
                whisper = faster_whisper.WhisperModel(
                    path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=threads,
                    num_workers=workers,
                    download_root=self.download_root,
                    local_files_only=True,
                )
            except (OSError, ValueError, RuntimeError) as error:
                problem = f"{type(error).__name__}: {error}"
                if device == "cuda" and self.device == "auto":
                    logger.warning("Whisper on CUDA failed (%s); falling back to the CPU", problem)
                    continue
                hint = ""
                if "compute type" in str(error):
                    supported = _engine("ctranslate2").get_supported_compute_types(device)
                    hint = f" (supported on {device}: {', '.join(sorted(supported))})"
                elif device == "cuda":
                    hint = " (is the CUDA 12 runtime with cuBLAS and cuDNN 9 installed?)"
                elif "tokenizer" in str(error).lower() or "hub" in str(error).lower():
                    hint = f"; {_fetch_hint(self.model)}"
                raise PluginError(
                    f"could not load the Whisper model {self.model!r} on {device} "
                    f"({compute_type}): {problem}{hint}"
                ) from error
            except Exception as error:  # the hub (tokenizer download) and the like
                raise PluginError(
                    f"could not load the Whisper model {self.model!r}: "
                    f"{type(error).__name__}: {error}; {_fetch_hint(self.model)}"
                ) from error
            logger.info(
                "Whisper model %s loaded on %s (%s, %d workers x %d threads) in %.2f s",
                path,
                device,
                compute_type,
                workers,
                threads,
                time.perf_counter() - started,
            )
            _by_resolved[key] = whisper
            return whisper
        raise PluginError(f"could not load the Whisper model {self.model!r} on any device")

    # Transcribing -------------------------------------------------------------------------

    def _transcribe(self, audio: FloatArray, sample_rate: int) -> str:
        """Resample and transcribe one utterance (in a pool thread)."""
        whisper = self._model()
        started = time.perf_counter()
        if sample_rate != WHISPER_RATE:
            from voip_core.resample import resample

            audio = resample(audio, sample_rate, WHISPER_RATE)
        options: dict[str, Any] = {
            "language": self.language,
            "beam_size": self.beam_size,
            "initial_prompt": self.initial_prompt,
            "vad_filter": self.vad_filter,
            # One utterance, one answer: no timestamps, no carried-over prompt.
            "without_timestamps": True,
            "condition_on_previous_text": False,
            **self.transcribe_options,
        }
        segments, _ = whisper.transcribe(np.ascontiguousarray(audio, np.float32), **options)
        text = "".join(segment.text for segment in segments).strip()
        _pool.count(len(audio) / WHISPER_RATE, time.perf_counter() - started)
        return text

    async def transcribe(self, audio: FloatArray, sample_rate: int) -> str:
        """The text spoken in ``audio`` (float32 mono at ``sample_rate``), stripped.

        Runs in the shared pool (loading the model first, the first time);
        waits there behind other utterances when every worker is busy.

        Raises:
            PluginError: The model cannot be loaded (see :meth:`load`).
        """
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        if not len(samples):
            return ""
        text: str = await _pool.run(self.workers, self._transcribe, samples, sample_rate)
        return text
