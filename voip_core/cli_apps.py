"""How the ``voip`` command sets up apps from plugins, knowing none of them.

An app (a Session class from the ``voip_apps`` hook) says what it needs by
its class attributes: ``default_stt`` (it transcribes), ``default_llm`` (it
talks to a language model), ``default_tts`` (it speaks), ``turn_ended`` (it
reports conversation turns). For each, the command line's backend name and
options become the class defaults of a subclass, the backend is made (and
its model loaded, where it can be) before the first call so a wrong name,
path or server fails at once, and what happens is printed, one line per
event (or JSON lines). A third-party app or backend needs no CLI change.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from typing import Any

__all__ = ["configure_app", "parse_options", "recorder_class", "speaking_app"]


def _value(text: str) -> Any:
    """``KEY=VALUE`` values: integers, decimals and true/false as such, else text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(items: list[str], flag: str) -> dict[str, Any]:
    """``["model=small", "beam_size=5"]`` -> ``{"model": "small", "beam_size": 5}``.

    >>> parse_options(["model=llama3.2", "temperature=0.2", "think=false"], "--llm-option")
    {'model': 'llama3.2', 'temperature': 0.2, 'think': False}
    """
    options: dict[str, Any] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise SystemExit(f"{flag} {item!r}: use KEY=VALUE")
        options[key] = _value(value)
    return options


async def _backend(kind: str, name: str, options: dict[str, Any]) -> str | None:
    """Make the ``kind`` backend ``name`` and load it; the error, if it cannot be."""
    from voip_core import plugins
    from voip_core.errors import PluginError

    make = {"stt": plugins.stt_backend, "llm": plugins.llm_backend, "tts": plugins.tts_backend}
    try:
        backend = make[kind](name, **options)
        load = getattr(backend, "load", None)
        if load is not None:
            await load()
    except PluginError as error:
        return f"{kind.upper()} backend {name!r}: {error}"
    return None


def _print_line(as_json: bool, caller: str, fields: dict[str, Any], text: str) -> None:
    now = datetime.datetime.now().astimezone()
    if as_json:
        line = {"time": now.isoformat(timespec="milliseconds"), "caller": caller, **fields}
        print(json.dumps(line, ensure_ascii=False))
    else:
        print(f"{now:%H:%M:%S} {caller}: {text}")
    sys.stdout.flush()


async def configure_app(app: type[Any], args: argparse.Namespace) -> type[Any] | None:
    """``app`` with the backends and settings of the command line; None (printed) if one fails."""
    attributes: dict[str, Any] = {}
    as_json = getattr(args, "json", False)
    for kind in ("stt", "llm", "tts"):
        if not hasattr(app, f"default_{kind}"):
            continue
        name = getattr(args, kind, None) or getattr(app, f"default_{kind}")
        options = parse_options(getattr(args, f"{kind}_option", []), f"--{kind}-option")
        if kind == "tts" and getattr(args, "voice", None):
            options["voice"] = args.voice
        error = await _backend(kind, name, options)
        if error is not None:
            print(error, file=sys.stderr)
            return None
        attributes[f"default_{kind}"] = name
        attributes[f"default_{kind}_options"] = options
    if hasattr(app, "default_stt"):
        if getattr(args, "vad", None) is not None:
            attributes["default_vad"] = args.vad
        heard = app.transcription_received

        def transcription_received(self: Any, text: str) -> None:
            _print_line(as_json, self.caller, {"text": text}, text)
            heard(self, text)

        attributes["transcription_received"] = transcription_received
    if hasattr(app, "turn_ended"):
        ended = app.turn_ended

        def turn_ended(self: Any, metrics: Any) -> None:
            values = metrics.as_dict()
            v2v = values.get("voice_to_voice_ms")
            timing = f" ({v2v:.0f} ms voice to voice)" if v2v is not None else ""
            cut = " [interrupted]" if values.get("interrupted") else ""
            _print_line(as_json, self.caller, values, f"-> {values['agent']}{cut}{timing}")
            ended(self, metrics)

        attributes["turn_ended"] = turn_ended
    configured = type(app.__name__, (app,), attributes)
    return _with_fields(configured, args)


def _with_fields(app: type[Any], args: argparse.Namespace) -> type[Any]:
    """``app`` with new defaults for the dataclass fields the command line sets."""
    wanted = {
        name: getattr(args, name, None) for name in ("system_prompt", "salutation", "llm_model")
    }
    fields = {field.name: field for field in dataclasses.fields(app)}
    changes = [
        (name, fields[name].type, dataclasses.field(default=value))
        for name, value in wanted.items()
        if value is not None and name in fields
    ]
    if not changes:
        return app
    return dataclasses.make_dataclass(
        app.__name__, changes, bases=(app,), kw_only=True, eq=False, repr=False
    )


async def speaking_app(args: argparse.Namespace) -> type[Any] | None:
    """The ``say`` app (voip-agent's SayCall, or a plugin's) for ``voip call --say``."""
    from voip_core import plugins

    app = plugins.apps().get("say")
    if app is None:
        print("--say needs an app named 'say': pip install voip-agent", file=sys.stderr)
        return None
    return await configure_app(app, args)


def recorder_class(app: type[Any]) -> type[Any]:
    """``app`` plus what it hears kept in memory (``voip call --record``, the demo)."""
    import asyncio

    import numpy as np

    class Recording(app):  # type: ignore[misc]
        def __post_init__(self) -> None:
            super().__post_init__()
            self.heard: list[Any] = []
            self.sent_all = asyncio.Event()

        def audio_received(self, *, audio: Any, rms: float) -> None:
            self.heard.append(audio)
            super().audio_received(audio=audio, rms=rms)

        def on_audio_sent(self) -> None:
            self.sent_all.set()
            super().on_audio_sent()

        def recording(self) -> Any:
            return np.concatenate(self.heard) if self.heard else np.zeros(0, np.float32)

    return Recording
