"""Shared test helpers: the conformance vectors and the CI rule for missing peers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT.parent / "shared" / "vectors"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, outside CI only; in CI a missing peer fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def need_program(name: str) -> str:
    """The path of ``name`` on PATH (skip outside CI, fail in CI, when missing)."""
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def need_ipv6() -> None:
    """Skip (outside CI) or fail (in CI) when the machine has no IPv6 loopback (::1)."""
    available = socket.has_ipv6
    if available:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
                probe.bind(("::1", 0))
        except OSError:
            available = False
    need(available, "no IPv6 loopback (::1)")


@pytest.fixture(scope="session")
def vectors() -> Path:
    need(VECTORS.is_dir(), f"conformance vectors not found at {VECTORS}")
    return VECTORS


def run_voip(log: Path, *arguments: str) -> subprocess.Popen[bytes]:
    """``python -m voip_core ARGUMENTS`` in the background, its output (unbuffered) in ``log``."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "voip_core", *arguments],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port that is free right now on ``host`` (UDP by default)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
