"""Real SIP peers for the interop tests: baresip, kamailio and our own `voip serve`.

Everything runs on loopback (127.0.0.1 or ::1) on free ports, with its
configuration generated under the test's ``tmp_path``; every process is
stopped by its PID, and its log can be attached to a failing test's report
(``tests/interop/conftest.py`` does that for the fixtures built on this).

- :class:`Baresip`: baresip 1.0 headless (``aufile`` source, ``aubridge,null``
  player, ``sndfile`` recorder, ``ctrl_tcp`` control, SIP trace ``-s`` in the
  log), driven through :class:`BaresipControl`.
- :class:`Kamailio`: kamailio 5.6 as registrar + record-routing proxy with
  digest auth (``tests/interop/kamailio/kamailio.cfg``, users in a db_text
  ``subscriber`` table).
- :class:`VoipServer`: ``python -m voip_core serve --app echo``.
- Audio helpers: speech from espeak-ng, WAV reading, RMS, and the best
  normalised cross-correlation of one recording inside another.

Recipes and pitfalls: /work/shared/recipes/FINDINGS.md §7.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conftest import free_port, need_program

HERE = Path(__file__).resolve().parent
KAMAILIO_CONFIG = HERE / "kamailio" / "kamailio.cfg"
BARESIP_MODULES = Path("/usr/lib/baresip/modules")

#: Test users of the kamailio registrar: user name -> password.
KAMAILIO_USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "agent": "agentpw"}


# Ports and processes ----------------------------------------------------------------------


def uri_host(host: str) -> str:
    """``host`` as a SIP URI writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` right now."""
    for _ in range(50):
        port = free_port(host=host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


def free_port_range(count: int = 20, host: str = "127.0.0.1") -> tuple[int, int]:
    """``count`` consecutive UDP ports, all free now, below the ephemeral range.

    baresip takes its RTP port at random inside ``rtp_ports``; keeping the range
    out of the kernel's ephemeral ports (32768 and up) keeps it out of the way of
    the ports the other processes of a test get from the kernel.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        first = random.randrange(20000, 32000 - count, 2)
        probes = []
        try:
            for port in range(first, first + count):
                probe = socket.socket(family, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind((host, port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return first, first + count - 1
    raise RuntimeError(f"no {count} consecutive free UDP ports")


def stop_process(process: subprocess.Popen[Any], *, grace: float = 3.0) -> int | None:
    """SIGTERM, wait ``grace`` s, then SIGKILL: by PID, only this process."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=5)
    return process.returncode


def strip_ansi(text: str) -> str:
    """``text`` without ANSI colour codes (baresip colours OK/ERR)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def process_group_members(group: int) -> list[int]:
    """PIDs of the live processes in process group ``group`` (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # pgrp, and not a zombie
            members.append(int(stat.parent.name))
    return members


def stop_process_group(process: subprocess.Popen[Any], *, grace: float = 5.0) -> int | None:
    """Stop ``process`` (started with ``start_new_session=True``) and what it forked.

    SIGTERM to the leader; then, by PID, SIGKILL for every process still in its
    group. kamailio needs it: its children sometimes hang on a shared-memory
    lock when they are told to stop, and outlive the main process.
    """
    code = stop_process(process, grace=grace)
    deadline = time.monotonic() + 2.0
    while (left := process_group_members(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return code


def log_tail(path: Path, limit: int = 30_000) -> str:
    """The end of a log file, readable (ANSI colours stripped)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    text = strip_ansi(text)
    text = re.sub(r"(\[\d+:\d\d:\d\d\] audio=\d+/\d+ \(bit/s\)\s*)+", "", text)  # status line
    return text if len(text) <= limit else "...\n" + text[-limit:]


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something true; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# Audio ------------------------------------------------------------------------------------


def make_speech_wav(
    path: Path,
    text: str,
    *,
    rate: int = 16000,
    silence_before: float = 0.3,
    silence_after: float = 4.0,
) -> Path:
    """Speech from espeak-ng as a mono S16LE WAV at ``rate``, padded with silence (sox)."""
    espeak = need_program("espeak-ng")
    sox = need_program("sox")
    raw = path.with_suffix(".espeak.wav")
    subprocess.run([espeak, "-v", "en-us", "-w", str(raw), text], check=True, timeout=30)
    subprocess.run(
        [
            *(sox, str(raw), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer"),
            *(str(path), "pad", f"{silence_before:g}", f"{silence_after:g}"),
        ],
        check=True,
        timeout=30,
    )
    raw.unlink()
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit WAV as float32 mono in [-1, 1] (first channel), and its rate."""
    with wave.open(str(path), "rb") as reader:
        channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    assert width == 2, f"{path}: {8 * width}-bit samples, expected 16"
    samples = np.frombuffer(frames, "<i2").reshape(-1, channels)[:, 0]
    return samples.astype(np.float32) / 32768.0, rate


def rms(audio: np.ndarray) -> float:
    """Root mean square (full scale 1.0)."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0


def voiced_seconds(audio: np.ndarray, rate: int, threshold: float = 0.01) -> float:
    """Seconds of 20 ms frames whose RMS reaches ``threshold``."""
    size = rate // 50
    frames = audio[: len(audio) // size * size].reshape(-1, size).astype(np.float64)
    return float(np.count_nonzero(np.sqrt(np.mean(frames**2, axis=1)) >= threshold) / 50)


def halve_rate(audio: np.ndarray) -> np.ndarray:
    """``audio`` at half its rate, band-limited (FFT brick wall): 16 kHz -> 8 kHz."""
    half = len(audio) // 2
    spectrum = np.fft.rfft(audio[: 2 * half].astype(np.float64))[: half // 2 + 1]
    return (np.fft.irfft(spectrum, half) / 2).astype(np.float32)


def double_rate(audio: np.ndarray) -> np.ndarray:
    """``audio`` at twice its rate (FFT zero padding): 8 kHz -> 16 kHz."""
    spectrum = np.fft.rfft(audio.astype(np.float64))
    return (np.fft.irfft(spectrum, 2 * len(audio)) * 2).astype(np.float32)


def best_match(needle: np.ndarray, haystack: np.ndarray) -> tuple[float, int]:
    """Where ``needle`` best fits inside ``haystack``: (normalised correlation, offset).

    The correlation at each offset is the cosine between ``needle`` and the
    window of ``haystack`` it covers (1.0: the same waveform up to gain), so
    loud and quiet passages compare fairly.
    """
    needle = needle.astype(np.float64)
    haystack = haystack.astype(np.float64)
    if len(needle) > len(haystack):
        needle, haystack = haystack, needle
    size = len(needle) + len(haystack)
    fft_size = 1 << (size - 1).bit_length()
    cross = np.fft.irfft(
        np.fft.rfft(haystack, fft_size) * np.conj(np.fft.rfft(needle, fft_size)), fft_size
    )[: len(haystack) - len(needle) + 1]
    energy = np.concatenate([[0.0], np.cumsum(haystack**2)])
    window = energy[len(needle) :] - energy[: len(haystack) - len(needle) + 1]
    denominator = np.sqrt(np.maximum(window, 1e-12) * max(float(np.dot(needle, needle)), 1e-12))
    score = cross / denominator
    score[window < 1e-6 * len(needle)] = 0.0  # silent windows correlate with nothing
    offset = int(np.argmax(score))
    return float(score[offset]), offset


def piecewise_match(needle: np.ndarray, haystack: np.ndarray, rate: int) -> float:
    """The median :func:`best_match` of 0.25 s pieces of ``needle`` (the loud ones).

    A peer that drops a frame of its source now and then (baresip's audio
    thread running late does) shifts what follows by 20 ms: one global fit
    then scores both halves badly, piece by piece each still matches.
    """
    piece = rate // 4
    scores = [
        best_match(needle[start : start + piece], haystack)[0]
        for start in range(0, len(needle) - piece + 1, piece)
        if float(np.sqrt(np.mean(needle[start : start + piece] ** 2))) > 0.02
    ]
    return float(np.median(scores)) if scores else 0.0


# baresip ----------------------------------------------------------------------------------


class BaresipControl:
    """baresip's ctrl_tcp: netstring-framed JSON commands, responses and events.

    Events arrive unsolicited (``{"event": true, "type": "CALL_ESTABLISHED",
    ...}``), also in between a command and its response; every one is kept in
    :attr:`events`, in order, and :meth:`wait_event` hands each out once.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""
        self.count = 0
        self.events: list[dict[str, Any]] = []
        self._taken: set[int] = set()

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            length, colon, rest = self.buffer.partition(b":")
            if colon and len(rest) > int(length):
                body, self.buffer = rest[: int(length)], rest[int(length) + 1 :]
                message: dict[str, Any] = json.loads(body)
                if message.get("event"):
                    self.events.append(message)
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from baresip ctrl_tcp")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("baresip closed ctrl_tcp")
            self.buffer += chunk

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Send a command (``dial``, ``hangup``, ``reginfo``, ``quit`` ...); its response."""
        self.count += 1
        token = f"t{self.count}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(b"%d:%s," % (len(body), body))
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(max(0.01, deadline - time.monotonic()))
            if message.get("response") and message.get("token") == token:
                return message

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event of type ``kind`` not handed out before."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if index not in self._taken and event.get("type") == kind:
                    self._taken.add(index)
                    return event
            try:
                self._read(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                seen = [event.get("type") for event in self.events]
                raise AssertionError(
                    f"no baresip event {kind} within {timeout:g} s; events: {seen}"
                ) from None

    def close(self) -> None:
        self.sock.close()


_BARESIP_CONFIG = """\
# baresip 1.0 headless loopback config, written by tests/interop/peers.py
poll_method\t\tepoll
sip_listen\t\t{sip_listen}
sip_trans_def\t\tudp
net_interface\t\t{host}
call_local_timeout\t120
call_max_calls\t\t4
audio_path\t\t/usr/share/baresip
audio_player\t\taubridge,null
audio_alert\t\taubridge,null
audio_source\t\taufile,{wav}
ausrc_srate\t\t16000
ausrc_channels\t\t1
ausrc_format\t\ts16
auplay_format\t\ts16
rtp_ports\t\t{rtp_first}-{rtp_last}
rtp_timeout\t\t0
jitter_buffer_delay\t1-10
module_path\t\t{modules}
module\t\t\tg711.so
module\t\t\tg722.so
module\t\t\topus.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
module\t\t\tsrtp.so
module_tmp\t\tuuid.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
snd_path\t\t{recordings}
opus_bitrate\t\t32000
"""


@dataclass(eq=False)
class Baresip:
    """One baresip process with one account, controlled over ctrl_tcp.

    Args:
        directory: Where its config, accounts, log and recordings go.
        wav: The S16LE mono 16 kHz WAV it sends as its microphone; baresip
            hangs up when it reaches the end of it.
        user: The account's user (an incoming call's Request-URI user must match).
        host: 127.0.0.1 or ::1.
        codecs: The account's ``audio_codecs``, in offer order (``PCMU``,
            ``G722/16000/1``, ``opus/48000/2``).
        answermode: ``auto`` answers incoming calls.
        registrar: ``(host, port)`` of a registrar: the account's AOR is there,
            baresip REGISTERs (and uses it as outbound proxy when ``outbound``).
        password: Digest password (for REGISTER, and INVITE challenges).
        outbound: Send every request through the registrar (outbound proxy).
        wait_registration: :meth:`start` waits until the REGISTER succeeded.
        mediaenc: The account's media encryption: ``srtp`` (best effort),
            ``srtp-mand`` (RTP/SAVP, SDES) or None (plain RTP).
    """

    directory: Path
    wav: Path
    user: str = "alice"
    host: str = "127.0.0.1"
    codecs: str = "PCMU"
    answermode: str = "auto"
    registrar: tuple[str, int] | None = None
    password: str | None = None
    outbound: bool = False
    wait_registration: bool = True
    mediaenc: str | None = None
    sip_port: int = 0
    ctrl_port: int = 0
    process: subprocess.Popen[Any] | None = None
    control: BaresipControl | None = None
    log: Path = field(init=False)
    recordings: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "baresip.log"
        self.recordings = self.directory / "recordings"

    @property
    def address(self) -> str:
        """Where it takes calls directly: ``sip:USER@HOST:PORT``."""
        return f"sip:{self.user}@{uri_host(self.host)}:{self.sip_port}"

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(exist_ok=True)
        self.sip_port = self.sip_port or free_udp_tcp_port(self.host)  # baresip opens both
        self.ctrl_port = self.ctrl_port or free_port(socket.SOCK_STREAM)
        rtp_first, rtp_last = free_port_range(host=self.host)
        (self.directory / "config").write_text(
            _BARESIP_CONFIG.format(
                sip_listen=f"{uri_host(self.host)}:{self.sip_port}",
                host=self.host,
                wav=self.wav.resolve(),
                rtp_first=rtp_first,
                rtp_last=rtp_last,
                modules=BARESIP_MODULES,
                ctrl_port=self.ctrl_port,
                recordings=self.recordings.resolve(),
            )
        )
        if self.registrar is not None:
            domain = f"{uri_host(self.registrar[0])}:{self.registrar[1]}"
            parameters = ["regint=60"]
            if self.outbound:
                parameters.append(f'outbound="sip:{domain}"')  # baresip adds ;lr
        else:
            domain = f"{uri_host(self.host)}:{self.sip_port}"
            parameters = ["regint=0"]
        parameters += [f"answermode={self.answermode}", f"audio_codecs={self.codecs}"]
        if self.mediaenc is not None:
            parameters.append(f"mediaenc={self.mediaenc}")
        if self.password is not None:
            parameters.append(f"auth_pass={self.password}")
        (self.directory / "accounts").write_text(
            f"<sip:{self.user}@{domain};transport=udp>;{';'.join(parameters)}\n"
        )

    def start(self, timeout: float = 10.0) -> Baresip:
        """Write the config, start baresip, wait until ctrl_tcp answers (and REGISTER is done)."""
        baresip = need_program("baresip")
        self.write_config()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [baresip, "-s", "-f", str(self.directory)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"baresip exited with {self.process.returncode}")
            if b"baresip is ready" not in self.log.read_bytes():
                return False
            try:
                self.control = BaresipControl(self.ctrl_port)
            except OSError:
                return False
            return True

        wait_for(ready, timeout, "baresip to start")
        if self.registrar is not None and self.wait_registration:
            self.wait_registered(timeout)
        return self

    def wait_registered(self, timeout: float = 10.0) -> str:
        """Until ``reginfo`` says OK: the REGISTER got its 200 (after the 401)."""

        def registered() -> str | None:
            data = strip_ansi(str(self.command("reginfo").get("data", "")))
            if "ERR" in data:
                raise AssertionError(f"baresip REGISTER failed: {data}")
            return data if " OK " in f" {data} " else None

        return str(wait_for(registered, timeout, "baresip to register", interval=0.2))

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        assert self.control is not None, "baresip is not running"
        return self.control.command(command, params, timeout)

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        assert self.control is not None, "baresip is not running"
        return self.control.wait_event(kind, timeout)

    def dial(self, uri: str) -> dict[str, Any]:
        response = self.command("dial", uri)
        assert response.get("ok"), f"baresip dial {uri}: {response}"
        return response

    def recorded(self) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
        """The last call's (received, sent) audio as sndfile dumped it: (-dec, -enc) WAVs."""
        received = sorted(self.recordings.glob("dump-*-dec.wav"))
        sent = sorted(self.recordings.glob("dump-*-enc.wav"))
        assert received and sent, f"no sndfile dumps in {self.recordings}"
        return read_wav(received[-1]), read_wav(sent[-1])

    def sip_trace(self) -> list[str]:
        """The SIP messages of its ``-s`` trace, in order: ``UDP A -> B``, then the message."""
        text = self.log.read_text(errors="replace")
        messages = []
        for block in text.split("\x1b[36;1m#\n")[1:]:
            message, end, _ = block.partition("\x1b[;m")
            # baresip may still be writing the last one: only whole messages count.
            if end and "\n" in message.strip():
                messages.append(message.replace("\r\n", "\n"))
        return messages

    def sent_and_received(self) -> list[tuple[str, str, str]]:
        """(direction "out"/"in", start line, CSeq) of each traced SIP message."""
        own = f"{uri_host(self.host)}:{self.sip_port}"
        result = []
        for message in self.sip_trace():
            lines = message.split("\n")
            if len(lines) < 2:
                continue
            route = lines[0].split()
            direction = "out" if len(route) >= 2 and route[1] == own else "in"
            cseq = next((line[5:].strip() for line in lines if line.startswith("CSeq:")), "")
            result.append((direction, lines[1].strip(), cseq))
        return result

    def stop(self) -> None:
        """``quit`` over ctrl_tcp, then SIGTERM/SIGKILL by PID if it lingers."""
        if self.process is None:
            return
        if self.control is not None:
            with contextlib.suppress(OSError, TimeoutError, ConnectionError, AssertionError):
                self.control.command("quit", timeout=1)
            self.control.close()
            self.control = None
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            stop_process(self.process, grace=2)


# kamailio ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Kamailio:
    """kamailio as registrar and record-routing proxy, on a free port of 127.0.0.1.

    Users and passwords go to a db_text ``subscriber`` table in ``directory``
    (realm = the From host, ``127.0.0.1``); registrations stay in memory. UDP
    and TCP listen on the same port.
    """

    directory: Path
    users: dict[str, str] = field(default_factory=lambda: dict(KAMAILIO_USERS))
    host: str = "127.0.0.1"
    port: int = 0
    tcp: bool = True
    process: subprocess.Popen[Any] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "kamailio.log"

    def write_database(self) -> Path:
        database = self.directory / "db"
        database.mkdir(parents=True, exist_ok=True)
        # db_text: first line is the column header; no comments allowed
        (database / "version").write_text(
            "table_name(string) table_version(int) \nsubscriber:7\nlocation:9\n"
        )
        rows = [
            "id(int,auto) username(string) domain(string) password(string) "
            "ha1(string,null) ha1b(string,null) "
        ]
        for number, (user, password) in enumerate(sorted(self.users.items()), start=1):
            rows.append(f"{number}:{user}:{self.host}:{password}:::")
        (database / "subscriber").write_text("\n".join(rows) + "\n")
        return database

    def start(self, timeout: float = 10.0) -> Kamailio:
        kamailio = need_program("kamailio")
        database = self.write_database()
        run = self.directory / "run"
        run.mkdir(exist_ok=True)
        self.port = self.port or (free_udp_tcp_port(self.host) if self.tcp else free_port())
        arguments = [
            kamailio,
            "-f",
            str(KAMAILIO_CONFIG),
            "-DD",  # stay in the foreground (children are forked); SIGTERM stops all
            "-E",  # log to stderr
            "-m",
            "32",
            "-M",
            "8",
            "-Y",
            str(run),
            "-w",
            str(run),
            "-A",
            f'DBURL="text://{database.resolve()}"',
            "-A",
            f"LISTEN=udp:{self.host}:{self.port}",
        ]
        if self.tcp:
            arguments += ["-A", f"LISTEN_TCP=tcp:{self.host}:{self.port}"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() finds its children
            )
        wait_for(self.answers_options, timeout, "kamailio to answer OPTIONS", interval=0.1)
        return self

    def answers_options(self, transport: str = "udp") -> bool:
        """Whether an OPTIONS to the proxy gets ``200 Keepalive`` (over ``udp`` or ``tcp``)."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"kamailio exited with {self.process.returncode}")
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.settimeout(0.5)
            try:
                if transport == "tcp":
                    probe.connect((self.host, self.port))
                else:
                    probe.bind((self.host, 0))
                local = probe.getsockname()[1]
                request = (
                    f"OPTIONS sip:{self.host}:{self.port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/{transport.upper()} {self.host}:{local}"
                    f";branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
                    "Max-Forwards: 70\r\n"
                    f"From: <sip:probe@{self.host}>;tag={secrets.token_hex(4)}\r\n"
                    f"To: <sip:{self.host}:{self.port}>\r\n"
                    f"Call-ID: {secrets.token_hex(8)}@{self.host}\r\n"
                    "CSeq: 1 OPTIONS\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode()
                if transport == "tcp":
                    probe.sendall(request)
                else:
                    probe.sendto(request, (self.host, self.port))
                answer = probe.recv(65536)
            except OSError:
                return False
        return answer.startswith(b"SIP/2.0 200")

    def stop(self) -> int | None:
        """SIGTERM to the main process, then SIGKILL to any child left (by PID)."""
        if self.process is None:
            return None
        return stop_process_group(self.process, grace=5)


# voip serve ----------------------------------------------------------------------------

#: Our UAS through the public API, for what `voip serve` cannot do: EchoCall that hangs
#: up by itself (``Session.hang_up``) after argv[3] seconds. Prints what `voip serve` does.
HANGING_UP_UAS = """\
import asyncio, dataclasses, signal, sys
from voip_core.audio import EchoCall
from voip_core.rtp.protocol import RealtimeTransportProtocol
from voip_core.sip.useragent import UserAgent

@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class HangsUp(EchoCall):
    def __post_init__(self):
        super().__post_init__()
        asyncio.get_running_loop().call_later(float(sys.argv[3]), self.hang_up)

async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    rtp = await RealtimeTransportProtocol.bind(host, 0)
    def ended(dialog):
        codec = getattr(getattr(dialog.session, "codec", None), "encoding_name", "-")
        print(f"call from {dialog.caller} codec {codec} ended", flush=True)
    ua = UserAgent(app=HangsUp, rtp=rtp, on_call_ended=ended)
    bound = await ua.listen(host, port)
    print(f"listening on {bound[0]}:{bound[1]} (udp), app hangs-up", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    ua.close()
    rtp.close()

asyncio.run(main())
"""


@dataclass(eq=False)
class VoipServer:
    """``python -m voip_core serve --app APP`` on HOST:free port, as a real process.

    With ``hang_up_after`` it is instead :data:`HANGING_UP_UAS`: our user agent
    answering with an echo app that hangs up itself after that many seconds.
    """

    directory: Path
    host: str = "127.0.0.1"
    app: str = "echo"
    port: int = 0
    hang_up_after: float | None = None
    transports: tuple[str, ...] = ("udp",)
    #: More options for ``voip serve`` (``("--srtp", "require")``).
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[Any] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / f"voip-serve-{self.app}.log"

    @property
    def address(self) -> str:
        return f"sip:{self.app}@{uri_host(self.host)}:{self.port}"

    def command(self) -> list[str]:
        if self.hang_up_after is not None:
            script = self.directory / "hanging_up_uas.py"
            script.write_text(HANGING_UP_UAS)
            return [
                sys.executable,
                str(script),
                self.host,
                str(self.port),
                f"{self.hang_up_after:g}",
            ]
        listen = f"{uri_host(self.host)}:{self.port}"
        transports = [option for kind in self.transports for option in ("--transport", kind)]
        return [
            sys.executable,
            *("-m", "voip_core", "-v", "serve", "--listen", listen, "--app", self.app),
            *transports,
            *self.extra,
        ]

    def start(self, timeout: float = 20.0) -> VoipServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_udp_tcp_port(self.host)
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

        def listening() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"voip serve exited with {self.process.returncode}")
            return "listening on" in self.log.read_text()

        wait_for(listening, timeout, "voip serve to listen")
        return self

    def calls_ended(self) -> list[str]:
        """The ``call from ...`` lines: one per call that has ended."""
        return [line for line in self.log.read_text().splitlines() if line.startswith("call from")]

    def stop(self) -> int | None:
        """SIGTERM (it hangs up its calls and exits 0), SIGKILL after 10 s."""
        if self.process is None:
            return None
        return stop_process(self.process, grace=10)
