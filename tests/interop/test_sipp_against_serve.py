"""sipp's built-in UAC scenario against `voip serve` (direct mode, UDP on loopback)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port, need_program

pytestmark = pytest.mark.interop


def run_sipp(port: int, tmp_path: Path, *extra: str, timeout: float = 120) -> str:
    sipp = need_program("sipp")
    result = subprocess.run(
        [
            sipp,
            "-sn",
            "uac",
            f"127.0.0.1:{port}",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-nostdin",
            "-trace_err",
            "-timeout",
            f"{int(timeout)}s",
            *extra,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )
    errors = "".join(p.read_text() for p in tmp_path.glob("*errors.log"))
    assert result.returncode == 0, result.stdout[-2000:] + errors[-3000:]
    return result.stdout


def successful_calls(report: str) -> int:
    line = next(line for line in report.splitlines() if "Successful call" in line)
    return int(line.split("|")[2])


def test_200_calls_without_a_failure(serve, tmp_path, request):
    port, output = serve
    report = run_sipp(port, tmp_path, "-m", "200", "-r", "100")
    assert successful_calls(report) == 200
    time.sleep(0.5)
    lines = [line for line in output.read_text().splitlines() if line.startswith("call from")]
    assert len(lines) == 200
    assert all(" codec PCMU " in line for line in lines)  # sipp offers PCMU only
    if "2-workers" in request.node.callspec.id:  # Call-IDs are random: both get some
        assert {line.rpartition(" worker ")[2] for line in lines} == {"0", "1"}


def test_retransmissions_save_every_call_with_10_percent_loss(serve, tmp_path):
    port, _ = serve
    report = run_sipp(port, tmp_path, "-m", "50", "-r", "25", "-lost", "10")
    assert successful_calls(report) == 50
