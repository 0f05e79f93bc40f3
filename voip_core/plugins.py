"""The plugin system: pluggy hook specs and the process-wide plugin manager.

Everything pluggable goes through these hooks, the core's own codecs and apps
included, so a built-in and a third-party plugin are indistinguishable.
A plugin is a module (or object) with ``@hookimpl`` functions, announced by
an entry point in group ``"voip"``::

    # pyproject.toml of a plugin
    [project.entry-points.voip]
    l16 = "voip_l16"

The entry points are loaded once, lazily, on the first call to
:func:`get_plugin_manager`. A plugin that fails to import is logged with its
name and the error, recorded in :func:`load_failures`, and skipped; the other
plugins still load.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from voip_core.errors import PluginError

if TYPE_CHECKING:
    from voip_core.backends import BackendInfo, LLMBackend, STTBackend, TTSBackend
    from voip_core.codecs.base import RTPCodec
    from voip_core.rtp.session import Session

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "LoadFailure",
    "VoIPHookSpecs",
    "apps",
    "backends",
    "codecs",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "llm_backend",
    "load_failures",
    "plugin_distributions",
    "reset_plugin_manager",
    "stt_backend",
    "tts_backend",
]

logger = logging.getLogger(__name__)

PROJECT_NAME = "voip"
ENTRY_POINT_GROUP = "voip"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class VoIPHookSpecs:
    """The hooks a voip plugin may implement (all optional)."""

    @hookspec
    def voip_codecs(self) -> Sequence[type[RTPCodec]]:  # type: ignore[empty-body]
        """Codec classes this plugin provides; every implementation contributes."""

    @hookspec(firstresult=True)
    def voip_stt(self, name: str, options: Mapping[str, Any]) -> STTBackend | None:
        """A speech-to-text backend called ``name`` made with ``options``, or None.

        The first non-None result wins: a ``tryfirst`` hookimpl overrides a default.
        """

    @hookspec(firstresult=True)
    def voip_tts(self, name: str, options: Mapping[str, Any]) -> TTSBackend | None:
        """A text-to-speech backend called ``name``, or None (first result wins)."""

    @hookspec(firstresult=True)
    def voip_llm(self, name: str, options: Mapping[str, Any]) -> LLMBackend | None:
        """A language-model backend called ``name``, or None (first result wins)."""

    @hookspec
    def voip_backends(self) -> Sequence[BackendInfo]:  # type: ignore[empty-body]
        """The backends this plugin can make, for listing (``voip plugins``)."""

    @hookspec
    def voip_apps(self) -> Mapping[str, type[Session]]:  # type: ignore[empty-body]
        """Named Session classes (apps) that the command line can serve."""


@dataclass(slots=True, frozen=True)
class LoadFailure:
    """A plugin entry point that could not be loaded."""

    name: str
    value: str
    distribution: str | None
    error: BaseException

    def __str__(self) -> str:
        origin = f" from {self.distribution}" if self.distribution else ""
        return (
            f"plugin {self.name!r} ({self.value}{origin}) failed to load: "
            f"{type(self.error).__name__}: {self.error}"
        )


_lock = threading.RLock()
_loading = False
_manager: pluggy.PluginManager | None = None
_failures: list[LoadFailure] = []
_distributions: dict[str, tuple[str, str]] = {}
#: What :func:`codecs` found, kept until a plugin is registered or unregistered
#: (or the manager is reset): every call placed or answered asks for it.
#: ``_generation`` counts those changes, so that a list worked out while one
#: happened (in another thread) is not kept.
_codecs: list[type[RTPCodec]] | None = None
_generation = 0


def _forget_codecs() -> None:
    global _codecs, _generation
    with _lock:
        _generation += 1
        _codecs = None


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, telling :func:`codecs` when the set of hook implementations changes.

    ``register`` and ``unregister`` (which ``set_blocked`` uses) are the ways
    plugins come and go, whether through entry points or a user's own
    ``get_plugin_manager().register(obj)``; new hook specs may validate
    pending implementations.
    """

    def register(self, plugin: object, name: str | None = None) -> str | None:
        _forget_codecs()
        try:
            return super().register(plugin, name)
        finally:
            _forget_codecs()

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        _forget_codecs()
        try:
            return super().unregister(plugin, name)
        finally:
            _forget_codecs()

    def add_hookspecs(self, module_or_class: ModuleType | type) -> None:
        _forget_codecs()
        try:
            super().add_hookspecs(module_or_class)
        finally:
            _forget_codecs()


def _new_manager() -> tuple[pluggy.PluginManager, list[LoadFailure]]:
    from voip_core import builtins

    manager = _PluginManager(PROJECT_NAME)
    manager.add_hookspecs(VoIPHookSpecs)
    manager.register(builtins, name="voip-core")
    failures: list[LoadFailure] = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry_point.dist.name if entry_point.dist is not None else None
        if manager.get_plugin(entry_point.name) is not None or manager.is_blocked(entry_point.name):
            clash = PluginError(f"another plugin is already registered as {entry_point.name!r}")
            failures.append(LoadFailure(entry_point.name, entry_point.value, distribution, clash))
            logger.error("%s", failures[-1])
            continue
        try:
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
        except Exception as error:
            failure = LoadFailure(entry_point.name, entry_point.value, distribution, error)
            failures.append(failure)
            logger.error("%s", failure)
            continue
        if entry_point.dist is not None:
            _distributions[entry_point.name] = (entry_point.dist.name, entry_point.dist.version)
    return manager, failures


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, entry points loaded on first call.

    Register your own hookimpls on it (``get_plugin_manager().register(obj)``)
    to add codecs or override backends without packaging a plugin.

    Raises:
        PluginError: Called by a plugin while it is being imported (a plugin
            must not use the plugin system at import time); that plugin is
            then reported as failed to load.
    """
    global _manager, _failures, _loading
    if _manager is None:
        with _lock:
            if _loading:
                raise PluginError("a plugin used the plugin manager while plugins were loading")
            if _manager is None:
                _loading = True
                try:
                    _manager, _failures = _new_manager()
                finally:
                    _loading = False
    return _manager


def reset_plugin_manager() -> None:
    """Forget the manager; the next call to :func:`get_plugin_manager` loads anew."""
    global _manager, _failures
    with _lock:
        _manager, _failures = None, []
        _distributions.clear()
        _forget_codecs()


def plugin_distributions() -> dict[str, tuple[str, str]]:
    """Loaded entry-point plugins: name -> (distribution, version)."""
    get_plugin_manager()
    return dict(_distributions)


def load_failures() -> list[LoadFailure]:
    """Plugins that failed to load, or whose hooks raised when called."""
    get_plugin_manager()
    return list(_failures)


def _collect(hook_name: str) -> list[Any]:
    """Call a collecting hook plugin by plugin, so that one plugin's error spares the others.

    A plugin whose hook raises is logged and recorded in :func:`load_failures`.
    Results come in pluggy's calling order (``tryfirst`` first, then the most
    recently registered).
    """
    manager = get_plugin_manager()
    caller = getattr(manager.hook, hook_name)
    results: list[Any] = []
    for implementation in reversed(caller.get_hookimpls()):
        try:
            result = implementation.function()
        except Exception as error:
            failure = LoadFailure(implementation.plugin_name, f"{hook_name}()", None, error)
            if not any(f.name == failure.name and f.value == failure.value for f in _failures):
                _failures.append(failure)
                logger.error("%s", failure)
            continue
        if result is not None:
            results.append(result)
    return results


def codecs() -> list[type[RTPCodec]]:
    """Every registered codec class, highest ``priority`` first.

    When two plugins register the same encoding name and clock rate, the one
    called first (``tryfirst``, else the most recently registered) wins.
    The list is worked out once and kept until a plugin is registered or
    unregistered, or :func:`reset_plugin_manager` is called; each call
    returns a new list.
    """
    global _codecs
    cached = _codecs
    if cached is None:
        generation = _generation
        get_plugin_manager()
        cached = _find_codecs()
        with _lock:
            if generation == _generation:  # no plugin came or went meanwhile
                _codecs = cached
    return list(cached)


def _find_codecs() -> list[type[RTPCodec]]:
    seen: set[tuple[str, int, int]] = set()
    result: list[type[RTPCodec]] = []
    for contribution in _collect("voip_codecs"):
        for codec in contribution:
            identity = (codec.encoding_name.lower(), codec.clock_rate, codec.channels)
            if identity not in seen:
                seen.add(identity)
                result.append(codec)
    result.sort(key=lambda codec: -codec.priority)
    return result


def backends() -> list[BackendInfo]:
    """Every backend the plugins announce."""
    return [info for group in _collect("voip_backends") for info in group]


def apps() -> dict[str, type[Session]]:
    """Every named app (Session class); a later-registered plugin wins a name clash."""
    result: dict[str, type[Session]] = {}
    for group in reversed(_collect("voip_apps")):
        result.update(group)
    return result


def _make(kind: str, name: str, options: Mapping[str, Any]) -> Any:
    hook = getattr(get_plugin_manager().hook, f"voip_{kind}")
    try:
        backend = hook(name=name, options=dict(options))
    except PluginError:
        raise
    except Exception as error:
        raise PluginError(
            f"making the {kind.upper()} backend {name!r} failed: {type(error).__name__}: {error}"
        ) from error
    if backend is None:
        known = ", ".join(sorted(info.name for info in backends() if info.kind == kind))
        failed = "".join(f"; {failure}" for failure in _failures)
        raise PluginError(
            f"no {kind.upper()} backend named {name!r} (known: {known or 'none'}){failed}"
        )
    return backend


def stt_backend(name: str, **options: Any) -> STTBackend:
    """Make the speech-to-text backend ``name`` through the ``voip_stt`` hook."""
    backend: STTBackend = _make("stt", name, options)
    return backend


def tts_backend(name: str, **options: Any) -> TTSBackend:
    """Make the text-to-speech backend ``name`` through the ``voip_tts`` hook."""
    backend: TTSBackend = _make("tts", name, options)
    return backend


def llm_backend(name: str, **options: Any) -> LLMBackend:
    """Make the language-model backend ``name`` through the ``voip_llm`` hook."""
    backend: LLMBackend = _make("llm", name, options)
    return backend
