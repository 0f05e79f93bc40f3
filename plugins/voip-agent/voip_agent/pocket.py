"""Kyutai's Pocket TTS as a streaming text-to-speech backend (the ``pocket-tts`` extra).

Pocket TTS runs on the CPU with torch. Its model is loaded once per process, on
first use, and shared by every :class:`PocketTTS` with the same config; voice
prompts are encoded once per voice. torch and pocket_tts are imported only when
a backend is first used, so importing this module stays light.

All model work (loading, encoding a voice, generating) runs on **one** worker
thread of a module-wide executor. pocket-tts documents its model as not
thread-safe, and one generation already keeps two threads busy (latent
generation and Mimi decoding; pocket-tts sets torch to one thread each). A
second worker would make two calls share the same cores, and both would be
late: with one, replies are generated one after another, each faster than real
time, while the event loop only ever waits on a queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.resources
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from voip_core.errors import PluginError

if TYPE_CHECKING:
    import torch

__all__ = ["PocketTTS"]

FloatArray = npt.NDArray[np.float32]
#: Pocket TTS's audio rate (Mimi); the loaded model's own rate wins once loaded.
DEFAULT_SAMPLE_RATE = 24000
_REMOTE_PREFIXES = ("hf://", "http://", "https://")
_INSTALL_HINT = (
    "pocket-tts is not installed: pip install 'voip-agent[pocket-tts]' (it needs torch: "
    "install the CPU wheel first, pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)
_OFFLINE_HINT = (
    "without network (or with HF_HUB_OFFLINE=1) give local files: config='/path/model.yaml' "
    "whose weights_path and tokenizer_path are files on disk, and voice='/path/voice.wav'"
)

#: Guards the caches; taken only in the worker thread (never on the event loop).
_lock = threading.Lock()
_models: dict[tuple[str, bool], _Loaded] = {}
_voice_states: dict[tuple[str, bool, str], Any] = {}
#: The one thread that runs all Pocket TTS work of this process (started on first use).
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocket-tts")


@dataclass(slots=True)
class _Loaded:
    """A shared model and the sampling settings of its config (restored when a backend has none)."""

    model: Any
    key: tuple[str, bool]
    language: str | None
    custom: bool
    temperature: float
    eos_threshold: float
    sampler_decode_steps: int


def _engine() -> ModuleType:
    try:
        return importlib.import_module("pocket_tts")
    except ImportError as error:
        raise PluginError(_INSTALL_HINT) from error


def _plugin_error(error: Exception, what: str) -> PluginError:
    """A :class:`PluginError` for ``error`` raised while getting ``what``, with guidance."""
    if isinstance(error, PluginError):
        return error
    modules = {kind.__module__.split(".")[0] for kind in type(error).__mro__}
    if modules & {"huggingface_hub", "requests", "urllib3"} or isinstance(
        error, ConnectionError | TimeoutError
    ):
        return PluginError(f"pocket-tts could not fetch {what} ({error}); {_OFFLINE_HINT}")
    if isinstance(error, FileNotFoundError):
        return PluginError(f"pocket-tts: {what}: file not found: {error.filename or error}")
    return PluginError(f"pocket-tts could not load {what}: {type(error).__name__}: {error}")


def _local_path(value: str | Path) -> Path | None:
    """``value`` as a local file path, or None for a name or a remote (``hf://``...) path."""
    text = str(value)
    if text.startswith(_REMOTE_PREFIXES):
        return None
    path = Path(text).expanduser()
    if isinstance(value, Path) or path.exists() or path.suffix or len(path.parts) > 1:
        return path
    return None


@dataclass(kw_only=True, eq=False)
class PocketTTS:
    """Speech from Pocket TTS, yielded chunk by chunk (80 ms frames) as it is generated.

    Args:
        config: A pocket-tts config name (``"english"``, ``"french"``, ... see
            ``pocket_tts/config``), a local YAML config, or an ``hf://`` path;
            None is pocket-tts's default English model.
        voice: A predefined voice name (``"alba"``; only with a named config), a
            WAV file, or audio at the model rate (a torch tensor ``[channels,
            samples]`` or a float32 numpy array); None is pocket-tts's default voice.
        temperature: Sampling temperature; None is the config's (0.3).
        eos_threshold: End-of-speech threshold (higher: speaks on longer); None
            is the config's (-4.0).
        sampler_decode_steps: Decoding steps per frame (more: better, slower);
            None is pocket-tts's default (1).
        frames_after_eos: Frames generated after end of speech; None lets
            pocket-tts choose from the text.
        quantize: int8 dynamic quantization of the transformer (smaller, faster
            on x86). Models are shared per config and this flag.
    """

    config: str | Path | None = None
    voice: str | Path | torch.Tensor | FloatArray | None = None
    temperature: float | None = None
    eos_threshold: float | None = None
    sampler_decode_steps: int | None = None
    frames_after_eos: int | None = None
    quantize: bool = False
    _loaded: _Loaded | None = field(default=None, init=False, repr=False)
    _voice_state: Any = field(default=None, init=False, repr=False)

    @property
    def sample_rate(self) -> int:
        """The model's audio rate (24000 for the released models)."""
        if self._loaded is None:
            return DEFAULT_SAMPLE_RATE
        return int(self._loaded.model.sample_rate)

    @property
    def model(self) -> Any:
        """The shared ``pocket_tts.TTSModel``; None until :meth:`load` or a synthesis."""
        return None if self._loaded is None else self._loaded.model

    async def load(self) -> None:
        """Load the model and the voice (in the worker thread), to fail at start, not in a call.

        Raises:
            PluginError: pocket-tts is missing, or the config or voice cannot be had.
        """
        if self._loaded is None or self._voice_state is None:
            await asyncio.get_running_loop().run_in_executor(_worker, self._load_blocking)

    async def synthesize(self, text: str) -> AsyncIterator[FloatArray]:
        """Audio for ``text``: float32 mono chunks at :attr:`sample_rate`, each as it exists.

        When the consumer stops early (the generator is closed or its task
        cancelled, as on barge-in), generation stops at the next frame.

        Raises:
            PluginError: The model or voice cannot be loaded, or generation failed.
        """
        if not text.strip():
            return
        await self.load()
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[FloatArray | Exception | None] = asyncio.Queue()
        stop = threading.Event()

        def hand_over(item: FloatArray | Exception | None) -> None:
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                stop.set()

        _worker.submit(self._generate, text, stop, hand_over)
        try:
            while (item := await chunks.get()) is not None:
                if isinstance(item, Exception):
                    raise PluginError(
                        f"pocket-tts failed to speak {text[:40]!r}: {type(item).__name__}: {item}"
                    ) from item
                yield item
        finally:
            stop.set()

    # Worker thread -------------------------------------------------------------------------

    def _generate(
        self,
        text: str,
        stop: threading.Event,
        hand_over: Callable[[FloatArray | Exception | None], None],
    ) -> None:
        if stop.is_set():  # stopped while waiting for the worker
            return
        try:
            loaded, state = self._loaded, self._voice_state
            assert loaded is not None, "load() runs before any generation"
            # The settings live on the shared model: safe, as only this thread uses it.
            model = loaded.model
            model.temp = loaded.temperature if self.temperature is None else self.temperature
            model.eos_threshold = (
                loaded.eos_threshold if self.eos_threshold is None else self.eos_threshold
            )
            steps = self.sampler_decode_steps
            model.sampler_decode_steps = loaded.sampler_decode_steps if steps is None else steps
            stream = model.generate_audio_stream(
                state, text, frames_after_eos=self.frames_after_eos, stop=stop
            )
            for chunk in stream:
                # Once stop is set pocket-tts makes no new frame; reading on to the end lets its
                # own threads finish before the next job uses the model.
                if not stop.is_set():
                    hand_over(chunk.detach().cpu().numpy().astype(np.float32))
        except Exception as error:
            hand_over(error)
        else:
            hand_over(None)

    def _load_blocking(self) -> None:
        pocket_tts = _engine()
        if self._loaded is None:
            self._loaded = self._shared_model(pocket_tts)
        if self._voice_state is None:
            self._voice_state = self._shared_voice_state(self._loaded)

    def _shared_model(self, pocket_tts: ModuleType) -> _Loaded:
        arguments: dict[str, Any] = {"quantize": self.quantize}
        config = self.config
        if config is None:
            source = "default"
        elif (path := _local_path(config)) is not None:
            if not path.is_file():
                raise PluginError(f"pocket-tts config {path} not found (a YAML file or a name)")
            source = str(path.resolve())
            arguments["config"] = source
        elif str(config).startswith(_REMOTE_PREFIXES):
            source = arguments["config"] = str(config)
        else:
            configs = importlib.resources.files("pocket_tts").joinpath("config").iterdir()
            names = sorted(
                c.name.removesuffix(".yaml") for c in configs if c.name.endswith(".yaml")
            )
            if str(config) not in names:
                raise PluginError(f"pocket-tts has no config {config!r}: one of {names}")
            source = arguments["language"] = str(config)
        key = (source, self.quantize)
        with _lock:
            loaded = _models.get(key)
            if loaded is None:
                try:
                    model = pocket_tts.TTSModel.load_model(**arguments)
                except Exception as error:
                    raise _plugin_error(error, f"the model of config {source}") from error
                loaded = _Loaded(
                    model,
                    key,
                    arguments.get("language"),
                    "config" in arguments,
                    model.temp,
                    model.eos_threshold,
                    model.sampler_decode_steps,
                )
                _models[key] = loaded
        return loaded

    def _shared_voice_state(self, loaded: _Loaded) -> Any:
        voice: Any = self.voice
        if voice is None:
            from pocket_tts.default_parameters import get_default_voice_for_language

            config = loaded.key[0] if loaded.custom else None
            voice = get_default_voice_for_language(loaded.language, config=config)
        if isinstance(voice, str | Path):
            path = _local_path(voice)
            if path is not None and not path.is_file():
                raise PluginError(f"pocket-tts voice file {path} not found")
            voice = voice if path is None else path.resolve()
            voice_key = str(voice)
        else:
            import torch

            if isinstance(voice, torch.Tensor):
                audio = voice.detach().cpu().to(torch.float32)
            else:
                audio = torch.from_numpy(np.asarray(voice, dtype=np.float32))
            audio = audio if audio.dim() == 2 else audio.reshape(1, -1)
            voice = audio.contiguous()
            digest = hashlib.sha256(voice.numpy().tobytes()).hexdigest()
            voice_key = f"audio {tuple(voice.shape)} {digest}"
        key = (*loaded.key, voice_key)
        with _lock:
            state = _voice_states.get(key)
            if state is None:
                try:
                    state = loaded.model.get_state_for_audio_prompt(voice)
                except Exception as error:
                    raise _plugin_error(error, f"the voice {voice_key}") from error
                _voice_states[key] = state
        return state
