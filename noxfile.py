"""Every workflow of voip-core: tests, lint, typecheck, demo, bench.

``nox -s tests`` runs the whole suite on Python 3.11, 3.12 and 3.13 with all
four packages installed; Pocket TTS (torch) on 3.11 only, where torch exists.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYTHONS = ["3.11", "3.12", "3.13"]
PLUGINS = ["plugins/voip-opus", "plugins/voip-whisper", "plugins/voip-agent"]
TEST_DEPENDENCIES = [
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "hypothesis>=6.100",
    "pylibsrtp>=1.0",  # libsrtp, as the test oracle for our SRTP (never a runtime dependency)
]

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

# pyenv installs interpreters without putting python3.12 / python3.13 on PATH:
# make every installed version findable by nox.
for bin_dir in sorted(
    glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin")), reverse=True
):
    if bin_dir not in os.environ.get("PATH", ""):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


#: The extras each plugin's tests need. voip-whisper's engine (faster-whisper:
#: CTranslate2, onnxruntime) needs no torch; voip-agent's Ollama client neither.
EXTRAS = {"plugins/voip-whisper": "engine", "plugins/voip-agent": "ollama"}
#: torch exists here only as a CPU wheel for Python 3.11 (the index also has a CUDA
#: build of gigabytes): Pocket TTS is installed and tested on 3.11 alone, with torch
#: pinned in the same pip call so no resolver can pick another.
TORCH = "torch==2.13.0"


def install_everything(session: nox.Session) -> None:
    # One pip call, so the resolver sees the local plugins and never pulls them from an index.
    with_torch = session.python == "3.11"
    editable = ["-e", "."]
    for plugin in PLUGINS:
        extras = [EXTRAS[plugin]] if plugin in EXTRAS else []
        if with_torch and plugin.endswith("voip-agent"):
            extras.append("pocket-tts")
        editable += ["-e", f"{plugin}[{','.join(extras)}]" if extras else plugin]
    if with_torch:
        session.install(TORCH)  # first, on its own: nothing after may replace it
    session.install(*editable, *TEST_DEPENDENCIES, *([TORCH] if with_torch else []))


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite, with voip-core and its plugins installed."""
    install_everything(session)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff, on everything."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on voip_core."""
    session.install("-e", ".", "mypy")
    session.run("mypy", "--strict", "voip_core")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """The main job: a real SIP call on loopback to our echo app, then every codec over RTP."""
    session.install("-e", ".", "-e", "plugins/voip-opus")
    session.run("voip", "plugins")
    session.run("voip", "demo", *session.posargs)
    session.run("voip", "loopback")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks: JSON to bench/results/, a table on the terminal."""
    install_everything(session)
    session.run("python", "bench/run.py", *session.posargs)
