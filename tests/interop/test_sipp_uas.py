"""`voip call` against sipp's built-in UAS scenario (direct mode, UDP on loopback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import free_port, need_program
from voip_core.wav import read_wav

pytestmark = pytest.mark.interop


def test_voip_call_completes_a_call_with_sipp_uas(tmp_path):
    sipp = need_program("sipp")
    port = free_port()
    uas = subprocess.Popen(
        [
            sipp,
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "1",
            "-nostdin",
            "-trace_err",
            "-timeout",
            "30s",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        record = tmp_path / "heard.wav"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "voip_core",
                "call",
                f"sip:service@127.0.0.1:{port}",
                "--duration",
                "1",
                "--record",
                str(record),
                "--timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert "answered, codec PCMU" in result.stdout and "hung up by us" in result.stdout
        assert read_wav(record)[1] == 16000
        report, _ = uas.communicate(timeout=20)
        assert uas.returncode == 0, report[-2000:]
    finally:
        if uas.poll() is None:
            uas.kill()


def test_voip_call_reports_a_failure_clearly():
    port = free_port()  # nobody listens there
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "voip_core",
            "call",
            f"sip:nobody@127.0.0.1:{port}",
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "failed: 408 Request Timeout" in result.stderr
