"""Every workflow of voip-core: tests, lint, typecheck, demo, bench.

``nox -s tests`` runs the whole suite (core and the plugins that need no
torch) on Python 3.11, 3.12 and 3.13 with all four packages installed.
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


def install_everything(session: nox.Session) -> None:
    # One pip call, so the resolver sees the local plugins and never pulls them from an index.
    editable = ["-e", "."]
    for plugin in PLUGINS:
        # voip-whisper's engine (faster-whisper: CTranslate2, onnxruntime; no torch) is an
        # extra for users; its tests need it.
        editable += ["-e", f"{plugin}[engine]" if plugin.endswith("voip-whisper") else plugin]
    session.install(*editable, *TEST_DEPENDENCIES)


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
