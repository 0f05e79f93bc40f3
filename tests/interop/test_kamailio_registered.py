"""Our user agent registered at kamailio (digest auth), over UDP and TCP.

kamailio is the registrar and record-routing proxy of the ``kamailio``
fixture (tests/interop/conftest.py); baresip is the other party.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from interop.peers import wait_for
from readme_blocks import named

from conftest import free_port
from voip_core import EchoCall, RealtimeTransportProtocol
from voip_core.errors import AuthenticationError
from voip_core.sip.auth import Credentials
from voip_core.sip.useragent import UserAgent

pytestmark = pytest.mark.interop


async def _agent(password: str, transport: str = "udp") -> UserAgent:
    rtp = await RealtimeTransportProtocol.bind("127.0.0.1", 0)
    agent = UserAgent(app=EchoCall, rtp=rtp, credentials=Credentials("alice", password))
    await agent.listen("127.0.0.1", 0, transport=transport)
    return agent


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_then_baresip_calls_us_through_kamailio(kamailio, start_baresip, transport):
    host, port, users = kamailio
    agent = await _agent(users["alice"], transport)
    aor = f"sip:alice@{host}:{port}"
    registration = agent.register(aor, registrar=f"sip:{host}:{port};transport={transport}")
    assert await registration.register() > 0
    bob = start_baresip(user="bob", registrar=(host, port), password=users["bob"], outbound=True)
    # baresip is driven from threads: our agent runs on this event loop meanwhile.
    await asyncio.to_thread(bob.dial, aor)  # kamailio finds alice's contact: our agent
    await asyncio.to_thread(bob.wait_event, "CALL_ESTABLISHED", 10)
    await asyncio.to_thread(wait_for, lambda: agent.dialogs, 5, "the call at our agent")
    (dialog,) = agent.dialogs.values()
    assert dialog.source.transport == transport
    assert dialog.route_set and dialog.route_set[0].port == port  # kamailio record-routed
    dialog.bye()  # through kamailio, by the route set
    await asyncio.to_thread(bob.wait_event, "CALL_CLOSED", 10)
    await agent.shutdown()  # unregisters: bob's next call to alice finds nobody
    await asyncio.to_thread(bob.dial, aor)
    closed = await asyncio.to_thread(bob.wait_event, "CALL_CLOSED", 10)
    assert "404" in str(closed.get("param", "")), closed
    agent.rtp.close()


async def test_a_wrong_password_is_an_authentication_error(kamailio):
    host, port, _ = kamailio
    agent = await _agent("not-alices-password")
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(agent.register(f"sip:alice@{host}:{port}").register(), 10)
    await agent.shutdown()
    agent.rtp.close()


@pytest.mark.parametrize(
    "form", ["voip sip AOR serve", "voip serve --aor AOR", "voip sip AOR serve --workers 2"]
)
def test_voip_sip_serve_registers_answers_and_unregisters(kamailio, start_baresip, tmp_path, form):
    """The CLI's registered mode, password from the environment, in both spellings.

    With worker processes the first registers for all, and the call reaches
    whichever its Call-ID names.
    """
    host, port, users = kamailio
    aor = f"sip:alice@{host}:{port}"
    log = tmp_path / "voip-sip.log"
    if form.startswith("voip sip AOR serve"):
        command = ["sip", aor, "serve", "--app", "echo", *form.split()[4:]]
    else:
        listen = f"127.0.0.1:{free_port()}"
        command = ["serve", "--aor", aor, "--listen", listen, "--app", "echo"]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "voip_core", *command],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VOIP_SIP_PASSWORD": users["alice"], "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_for(lambda: "registered sip:alice" in log.read_text(), 10, "voip sip to register")
        bob = start_baresip(
            user="bob", registrar=(host, port), password=users["bob"], outbound=True
        )
        bob.dial(aor)
        bob.wait_event("CALL_ESTABLISHED", timeout=10)
        bob.command("hangup")
        bob.wait_event("CALL_CLOSED", timeout=10)
        wait_for(lambda: "call from sip:bob" in log.read_text(), 5, "the call's log line")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, log.read_text()
    assert users["alice"] not in log.read_text()
    bob.dial(aor)  # unregistered on exit
    closed = bob.wait_event("CALL_CLOSED", timeout=10)
    assert "404" in str(closed.get("param", "")), closed


def test_readme_registered_example_against_kamailio(kamailio, start_baresip, tmp_path: Path):
    host, port, users = kamailio
    bob = start_baresip(user="bob", registrar=(host, port), password=users["bob"])
    script = tmp_path / "registered.py"
    script.write_text(named("registered.py"))
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "AOR": f"sip:alice@{host}:{port}",
            "CALLEE": f"sip:bob@{host}:{port}",
            "SIP_USER": "alice",
            "VOIP_SIP_PASSWORD": users["alice"],
        },
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("registered for ") and int(lines[0].split()[2]) > 0
    assert lines[1] in {"answered with PCMU", "answered with opus"}
    bob.wait_event("CALL_CLOSED", timeout=10)  # our BYE reached bob through kamailio


def test_voip_sip_call_registers_calls_through_kamailio_and_hangs_up(kamailio, start_baresip):
    host, port, users = kamailio
    bob = start_baresip(user="bob", registrar=(host, port), password=users["bob"])
    result = subprocess.run(
        [
            sys.executable,
            *("-m", "voip_core", "sip", f"sip:alice@{host}:{port}"),
            *("call", f"sip:bob@{host}:{port}", "--duration", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VOIP_SIP_PASSWORD": users["alice"]},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registered sip:alice" in result.stdout
    assert "answered" in result.stdout and "hung up by us" in result.stdout
    bob.wait_event("CALL_CLOSED", timeout=10)
    invite = next(m for m in bob.sip_trace() if m.split("\n", 2)[1].startswith("INVITE "))
    assert f"From: <sip:alice@{host}:{port}>" in invite  # the call came from the AOR
