"""Fixtures for the interop tests: our own server as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port


@pytest.fixture
def serve(tmp_path: Path):
    """`voip serve --app echo` on a free port; yields (port, output file)."""
    port = free_port()
    output = tmp_path / "serve.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voip_core",
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--app",
                "echo",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            for _ in range(100):
                if "listening on" in output.read_text():
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"voip serve did not start: {output.read_text()}")
            yield port, output
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0, output.read_text()
