"""README stays true: its examples run, its commands are the ones CI and nox use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from readme_blocks import named, shell_commands

from voip_core.cli import main
from voip_core.wav import read_wav

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_runs(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(named("quickstart.py"))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    heard = float(result.stdout.split("bob heard ")[1].split(" s")[0])
    assert (
        0.7 <= heard <= 1.0
    )  # one second sent; the 8->16 kHz resampler may still hold its last block
    assert result.stdout.strip().endswith("of PCMU")


def test_ci_runs_exactly_the_readme_test_command():
    main_job, tests = shell_commands()
    assert "nox -s demo" in main_job and "nox -s tests" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def test_loopback_command_reports_every_codec(tmp_path, capsys):
    status = main(["loopback", "--seconds", "1", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    for name in ("opus/48000", "G722/8000", "PCMU/8000", "PCMA/8000"):
        line = next(line for line in out.splitlines() if name in line)
        assert line.startswith("ok"), line
        assert "sent   50 pkts" in line and "received   50" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "loopback-g722.wav",
        "loopback-opus.wav",
        "loopback-pcma.wav",
        "loopback-pcmu.wav",
    ]


def test_loopback_reads_a_wav(tmp_path, capsys):
    import numpy as np

    from voip_core.wav import read_wav, write_wav

    source = tmp_path / "in.wav"
    t = np.arange(22050) / 22050
    write_wav(source, (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32), 22050)
    status = main(["loopback", "--wav", str(source), "--codec", "PCMA", "--out-dir", str(tmp_path)])
    assert status == 0
    audio, rate = read_wav(tmp_path / "loopback-pcma.wav")
    assert rate == 16000 and abs(len(audio) - 16000) <= 320


def test_demo_is_a_real_call_that_hears_its_words_back(capsys):
    assert main(["demo", "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert "call answered, codec opus" in out
    correlation = float(out.split("correlation ")[1].split(",")[0])
    assert correlation > 0.9
    assert "packets sent 50, received " in out
    # What comes back is the echo's utterance, cut by its VAD: a frame more or less.
    received = int(out.split("received ")[1].split(";")[0])
    assert 48 <= received <= 52, out


def test_sip_example_holds_resumes_and_hangs_up(tmp_path):
    script = tmp_path / "sip_calls.py"
    script.write_text(named("sip_calls.py"))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("call from sip:voip@127.0.0.1:")
    assert lines[1] in {"answered with opus", "answered with PCMU"}  # opus if installed
    assert lines[2:] == ["held: sendonly / recvonly", "resumed: sendrecv"]


def test_media_example_presses_keys_and_records_the_call(tmp_path):
    script = tmp_path / "media.py"
    script.write_text(named("media.py"))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["pressed 4", "pressed 2", "pressed #"]
    (recording,) = (tmp_path / "recordings").glob("*.wav")
    audio, rate = read_wav(recording)  # mixed down: the 440 Hz tone Alice played
    assert rate == 16000 and 0.8 <= len(audio) / rate <= 2.5
    assert float(np.sqrt(np.mean(audio**2))) > 0.05
