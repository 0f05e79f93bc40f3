"""Fixtures for the interop tests: our own server as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interop.peers import Baresip, Kamailio, VoipServer, log_tail, make_speech_wav

from conftest import free_port


@pytest.fixture(params=[1, 2], ids=["one-process", "2-workers"])
def serve(request, tmp_path: Path):
    """`voip serve --app echo` on a free port, alone and with 2 worker processes.

    Yields (port, output file).
    """
    workers = request.param
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
                "--workers",
                str(workers),
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


# Real peers (tests/interop/peers.py): baresip, kamailio, more `voip serve` processes -----
#
# Every process a fixture starts is stopped by its PID at teardown, and its log is
# attached to the report of a test that fails (in any phase).

_PEER_LOGS = pytest.StashKey[list[tuple[str, Path]]]()


def attach_log(request: pytest.FixtureRequest, name: str, path: Path) -> None:
    """Show ``path`` (its end) under ``name`` in the report if the test fails."""
    request.node.stash.setdefault(_PEER_LOGS, []).append((name, path))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, path in item.stash.get(_PEER_LOGS, []):
            report.sections.append((f"{name} ({path})", log_tail(path)))


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory):
    """A spoken sentence (espeak-ng), 16 kHz mono S16LE, 0.3 s silence before and 4 s after."""
    path = tmp_path_factory.mktemp("speech") / "speech16k.wav"
    return make_speech_wav(path, "Hello, this is a loopback test call. One two three four.")


@pytest.fixture(scope="session")
def long_speech(tmp_path_factory: pytest.TempPathFactory):
    """A spoken sentence followed by 20 s of silence: for a baresip that must not hang up first."""
    path = tmp_path_factory.mktemp("speech") / "long16k.wav"
    return make_speech_wav(path, "Good morning, baresip speaking.", silence_after=20.0)


@pytest.fixture
def start_baresip(request: pytest.FixtureRequest, tmp_path: Path, speech: Path):
    """Start baresips: ``start_baresip(user="alice", codecs="PCMU", ...)`` -> a running Baresip.

    Keyword arguments are :class:`peers.Baresip`'s (``wav`` defaults to the ``speech``
    fixture). All of them are stopped at teardown.
    """
    started: list[Baresip] = []

    def start(**options) -> Baresip:
        user = options.get("user", "alice")
        directory = tmp_path / f"baresip-{user}-{len(started)}"
        options.setdefault("wav", speech)
        peer = Baresip(directory=directory, **options)
        started.append(peer)
        attach_log(request, f"baresip {user}", peer.log)
        return peer.start()

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def start_voip_server(request: pytest.FixtureRequest, tmp_path: Path):
    """Start `voip serve` processes: ``start_voip_server(host="::1")`` -> a running VoipServer.

    At teardown each gets SIGTERM and must exit with status 0.
    """
    started: list[VoipServer] = []

    def start(**options) -> VoipServer:
        server = VoipServer(directory=tmp_path / f"voip-serve-{len(started)}", **options)
        started.append(server)
        attach_log(request, f"voip serve {server.host}", server.log)
        return server.start()

    yield start
    codes = [(server, server.stop()) for server in started]
    for server, code in codes:
        assert code == 0, f"voip serve exited with {code}: {server.log.read_text()[-3000:]}"


@pytest.fixture
def kamailio_process(request: pytest.FixtureRequest, tmp_path: Path):
    """A running :class:`peers.Kamailio` (registrar + record-routing proxy, digest auth)."""
    proxy = Kamailio(directory=tmp_path / "kamailio")
    attach_log(request, "kamailio", proxy.log)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture
def kamailio(kamailio_process):
    """kamailio on a free port of 127.0.0.1 (UDP, and TCP on the same port), with digest auth.

    Yields ``(host, port, users)``: ``users`` maps each test user to its password
    (alice, bob, carol, agent); the digest realm is ``127.0.0.1``. REGISTER as
    ``sip:USER@127.0.0.1:PORT`` gets 401 then 200; an INVITE from a ``127.0.0.1``
    From gets 407; an INVITE for ``sip:USER@127.0.0.1:PORT`` goes to USER's
    registered contact (404 if none), any other Request-URI is relayed as it is;
    INVITEs are record-routed. The log is attached to a failing test's report.
    """
    return kamailio_process.host, kamailio_process.port, dict(kamailio_process.users)
