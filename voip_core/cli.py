"""The ``voip`` command.

``voip plugins`` lists what the plugin system found; ``voip loopback`` sends
a WAV through every codec over RTP on 127.0.0.1 and writes what came back;
``voip serve`` answers calls with an app; ``voip call`` places one;
``voip sip AOR serve|call|say|agent`` does those registered at a registrar;
``voip demo`` is a real call on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voip_core.rtp.ports import DEFAULT_RTP_PORTS

#: Bytes a write to a pipe keeps in one piece (POSIX's minimum, Linux's value).
_PIPE_BUF = 4096

__all__ = ["main"]


def _plugins(args: argparse.Namespace) -> int:
    from voip_core import plugins

    manager = plugins.get_plugin_manager()
    distributions = plugins.plugin_distributions()
    print("Plugins:")
    for name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue
        origin = distributions.get(name)
        where = f"{origin[0]} {origin[1]}" if origin else getattr(plugin, "__name__", repr(plugin))
        print(f"  {name:<12} {where}")
    for failure in plugins.load_failures():
        print(f"  {failure.name:<12} FAILED: {failure}")
    print("Codecs (our order of preference):")
    for codec in plugins.codecs():
        pt = codec.static_payload_type if codec.static_payload_type is not None else "dynamic"
        print(
            f"  {codec.encoding_name:<10} pt {pt!s:<8} clock {codec.clock_rate:>5} Hz  "
            f"audio {codec.sample_rate:>5} Hz  channels {codec.channels}  "
            f"({codec.__module__}.{codec.__qualname__})"
        )
    print("Backends:")
    for info in sorted(plugins.backends(), key=lambda i: (i.kind, i.name)):
        print(f"  {info.kind:<4} {info.name:<12} {info.description}")
    print("Apps:")
    for name, app in sorted(plugins.apps().items()):
        print(f"  {name:<12} {app.__module__}.{app.__qualname__}")
    return 1 if plugins.load_failures() else 0


def _loopback(args: argparse.Namespace) -> int:
    from voip_core import plugins
    from voip_core.loopback import SAMPLE_RATE, run_loopback, test_signal
    from voip_core.resample import resample
    from voip_core.wav import read_wav

    if args.wav:
        audio, rate = read_wav(args.wav)
        audio = resample(audio, rate, SAMPLE_RATE)
        source = str(args.wav)
    else:
        audio = test_signal(args.seconds)
        source = f"{args.seconds:g} s test sweep"
    codecs = plugins.codecs()
    if args.codec:
        wanted = {name.lower() for name in args.codec}
        codecs = [c for c in codecs if c.encoding_name.lower() in wanted]
        if not codecs:
            print(f"no codec named {', '.join(args.codec)}", file=sys.stderr)
            return 2
    print(f"Sending {source} through {len(codecs)} codecs over RTP on 127.0.0.1 ...")
    results = asyncio.run(run_loopback(audio, codecs, args.out_dir))
    failed = 0
    for result in results:
        ok = result.correlation >= args.min_correlation
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {result.line()}")
        if result.wav is not None:
            print(f"     wrote {result.wav}")
    return 1 if failed else 0


def _parse_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _credentials(args: argparse.Namespace) -> Any:
    """Credentials from --username/--password (or $VOIP_SIP_PASSWORD), if a password is set."""
    import os

    from voip_core.sip.auth import Credentials
    from voip_core.sip.uri import SIPURI

    password = getattr(args, "password", None) or os.environ.get("VOIP_SIP_PASSWORD")
    if not password:
        return None
    username = getattr(args, "username", None)
    aor = getattr(args, "aor", None)
    if username is None and aor is not None:
        username = SIPURI.parse(aor).user
    return Credentials(username or "voip", password)


async def _user_agent(
    args: argparse.Namespace, app: Any, host: str, port: int = 0, channel: Any = None
) -> Any:
    """A UserAgent listening on every --transport at host:port, with the common options.

    ``channel``: a worker's (``serve --workers``), whose relay listens for it.
    """
    import ssl

    from voip_core.rtp.ports import RTPPortRange
    from voip_core.sip.useragent import UserAgent

    user_agent = UserAgent(
        app=app,
        rtp=RTPPortRange(host, *args.rtp_ports),
        srtp=args.srtp,
        stun_server=_parse_host_port(args.stun) if args.stun else None,
        on_call_ended=getattr(args, "on_call_ended", None),
        credentials=_credentials(args),
        outbound_proxy=getattr(args, "proxy", None),
        tls_verify=not args.insecure,
        tls_cafile=args.ca,
    )
    if channel is not None:
        user_agent.listen_relayed(channel)
        return user_agent
    for transport in args.transport or ["udp"]:
        context = None
        if transport == "tls" and args.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.tls_cert, args.tls_key)
        elif transport == "tls":
            raise SystemExit("listening on TLS needs --tls-cert (and --tls-key)")
        bound = await user_agent.listen(host, port, transport=transport, ssl_context=context)
        port = bound[1]  # every transport on the same port
    return user_agent


def _registrar_hop(args: argparse.Namespace) -> Any:
    """The first hop of ``voip sip``: the proxy, else the registrar, else the AOR's domain."""
    from voip_core.sip.endpoint import hop_for_uri
    from voip_core.sip.uri import SIPURI

    return hop_for_uri(SIPURI.parse(args.proxy or args.registrar or args.aor))


async def _register(args: argparse.Namespace, user_agent: Any) -> bool:
    """Register --aor (``voip sip AOR ...``); False (and a message) when it fails."""
    from voip_core.errors import AuthenticationError, CallFailed

    if getattr(args, "aor", None) is None:
        return True
    registration = user_agent.register(args.aor, registrar=args.registrar, expires=args.expires)
    try:
        granted = await registration.register()
    except (AuthenticationError, CallFailed) as error:
        print(f"registering {args.aor} failed: {error}", file=sys.stderr)
        return False
    print(f"registered {args.aor} for {granted} s", flush=True)
    return True


def _known_app(name: str) -> bool:
    """Whether a plugin provides app ``name``; says which do when none does."""
    from voip_core import plugins

    apps = plugins.apps()
    if name not in apps:
        print(f"no app named {name!r} (known: {', '.join(sorted(apps))})", file=sys.stderr)
    return name in apps


def _serve_address(args: argparse.Namespace) -> tuple[str, int]:
    """Where `serve` listens: --listen, else (registered) the address that reaches the registrar."""
    if args.listen is not None:
        return _parse_host_port(args.listen)
    hop = _registrar_hop(args)
    args.transport = args.transport or [hop.transport]
    return _local_host_for(hop.address[0]), 0


async def _serve_forever(args: argparse.Namespace, channel: Any = None) -> int:
    """Answer calls until SIGINT/SIGTERM; ``channel``: as one of --workers processes."""
    import gc
    import signal

    from voip_core import plugins
    from voip_core.cli_apps import configure_app
    from voip_core.sip.useragent import Dialog

    if not _known_app(args.app):
        return 2
    configured = await configure_app(plugins.apps()[args.app], args)
    if configured is None:
        return 2
    app: Any = configured
    if args.record_dir is not None:
        app = type(app.__name__, (app,), {"record_to": args.record_dir})
    host, port = _serve_address(args)

    # One line per call, written together every 50 ms: a write per call would
    # cost a system call each (two per print() when stdout is unbuffered).
    ended_lines: list[str] = []

    def flush() -> None:
        # Each write at most PIPE_BUF bytes of whole lines: workers share stdout,
        # and a pipe keeps writes that short in one piece [POSIX write()].
        chunk: list[str] = []
        size = 0
        for line in ended_lines:
            length = len(line.encode())
            if chunk and size + length > _PIPE_BUF:
                sys.stdout.write("".join(chunk))
                sys.stdout.flush()
                chunk, size = [], 0
            chunk.append(line)
            size += length
        ended_lines.clear()
        sys.stdout.write("".join(chunk))
        sys.stdout.flush()

    worker = "" if channel is None else f" worker {channel.index}"

    def call_ended(dialog: Dialog) -> None:
        session = dialog.session
        codec = getattr(getattr(session, "codec", None), "encoding_name", "-")
        seconds = time.monotonic() - dialog.started_at
        keys = dialog._srtp_keys
        secure = f" srtp {keys.suite}" if keys is not None else ""
        stats = getattr(session, "stats", None)
        if stats is not None and stats.expected:
            secure += (
                f" lost {stats.fraction_lost:.1%} jitter {stats.jitter * 1000:.0f}ms"
                f" mos {stats.mos:.1f}"
            )
        ended_lines.append(
            f"call from {dialog.caller} codec {codec} duration {seconds:.1f}s{secure}{worker}\n"
        )
        if len(ended_lines) == 1:
            asyncio.get_running_loop().call_later(0.05, flush)

    args.on_call_ended = call_ended
    user_agent = await _user_agent(args, app, host, port, channel)
    # What is loaded by now (modules, plugins, codec tables) lives as long as the
    # process: the cyclic garbage collector need not visit it on every collection.
    # And a server makes objects in bursts (each call several hundred, most
    # freed by the end of the call): collecting the young generation after
    # 10 000 of them rather than 700 visits far fewer that were about to go.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 10)
    if channel is None:
        print(_listening_line(args, *user_agent.local_address), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    status = 0
    if channel is not None and channel.index > 0:  # worker 0 registers for all
        args.aor = None
    if await _register(args, user_agent):
        if channel is not None:
            from voip_core.sip.workers import tell_ready

            tell_ready(channel)
        await stop.wait()
    else:
        status = 1
    await user_agent.shutdown()
    flush()  # the calls that ended in the last 50 ms (and those hung up by shutdown)
    return status


def _local_host_for(target_host: str) -> str:
    """The local address that reaches ``target_host`` (no packet is sent)."""
    import socket

    family = socket.AF_INET6 if ":" in target_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((target_host, 9))
        return str(probe.getsockname()[0])


async def _place_call(args: argparse.Namespace) -> int:
    from voip_core.audio import AudioCall
    from voip_core.cli_apps import recorder_class, speaking_app
    from voip_core.errors import CallFailed
    from voip_core.sip.endpoint import hop_for_uri
    from voip_core.sip.uri import SIPURI

    target = SIPURI.parse(args.uri)
    first_hop = hop_for_uri(SIPURI.parse(args.proxy) if args.proxy else target)
    if not args.transport:
        args.transport = [first_hop.transport]
    host, port = (
        _parse_host_port(args.listen) if args.listen else (_local_host_for(first_hop.address[0]), 0)
    )
    base: type[Any] | None = AudioCall
    options: dict[str, Any] = {}
    if args.say is not None:
        base = await speaking_app(args)
        options["text"] = args.say
    if base is None:
        return 2
    app = recorder_class(base)
    user_agent = await _user_agent(args, app, host, port)
    if not await _register(args, user_agent):
        await user_agent.shutdown()
        return 1
    started = time.monotonic()
    try:
        dialog = await user_agent.dial(target, timeout=args.timeout, **options)
    except CallFailed as error:
        print(f"call to {args.uri} failed: {error}", file=sys.stderr)
        await user_agent.shutdown()
        return 1
    session = dialog.session
    recorder = session.start_recording()
    played = session.send_wav(args.play) if args.play else 0.0
    ended_by_peer = asyncio.ensure_future(session.wait_closed())
    waiting: asyncio.Future[Any]
    if args.duration is not None:
        waiting = asyncio.ensure_future(asyncio.sleep(args.duration))
    elif args.say is not None:
        # It hangs up when it has said it.
        waiting = asyncio.ensure_future(asyncio.wait([session.saying]))
    elif args.play:
        waiting = asyncio.ensure_future(session.sent_all.wait())
    else:
        waiting = asyncio.ensure_future(asyncio.Event().wait())
    await asyncio.wait({ended_by_peer, waiting}, return_when=asyncio.FIRST_COMPLETED)
    said_all = args.say is not None and waiting.done()
    by = "us" if said_all or not ended_by_peer.done() else "them"
    waiting.cancel()
    ended_by_peer.cancel()
    if by == "us" and not said_all:
        dialog.bye()
    if args.record:
        recorder.write(args.record, args.record_layout)
    if args.say is not None:
        played = session.said
    print(
        f"call to {args.uri}: answered, codec {session.codec.encoding_name}, "
        f"{'said' if args.say is not None else 'played'} "
        f"{played:.2f}s, recorded {recorder.duration:.2f}s, "
        f"{time.monotonic() - started:.1f}s in all, hung up by {by}",
        flush=True,
    )
    await user_agent.shutdown()  # waits for the BYE's answer, unregisters
    return 0


def _call(args: argparse.Namespace) -> int:
    return asyncio.run(_place_call(args))


async def _demo_call(args: argparse.Namespace) -> int:
    from voip_core.audio import AudioCall, EchoCall
    from voip_core.cli_apps import recorder_class
    from voip_core.loopback import SAMPLE_RATE, compare, test_signal
    from voip_core.sip.useragent import UserAgent

    server = UserAgent(app=EchoCall)  # media: a port per call, 10000-20000
    host, port = await server.listen("127.0.0.1", 0)
    client = UserAgent(app=recorder_class(AudioCall))
    await client.listen("127.0.0.1", 0)
    print(f"echo server listening on sip:echo@{host}:{port} (UDP)")
    dialog = await client.dial(f"sip:echo@{host}:{port}", timeout=5)
    session = dialog.session
    print(f"call answered, codec {session.codec.encoding_name}; saying {args.seconds:g} s ...")
    sent = test_signal(args.seconds)
    session.send_audio(sent)
    await session.sent_all.wait()
    for _ in range(round((args.seconds + 3) / 0.05)):
        if len(session.heard) * session.frame_size >= len(sent) + 0.5 * SAMPLE_RATE:
            break
        await asyncio.sleep(0.05)
    dialog.bye()
    await asyncio.sleep(0.2)
    delay_ms, correlation, snr = compare(sent, session.recording(), SAMPLE_RATE)
    print(
        f"heard our words back: {len(session.recording()) / SAMPLE_RATE:.2f} s, "
        f"{delay_ms:.1f} ms codec delay, correlation {correlation:.3f}, SNR {snr:.1f} dB; "
        f"packets sent {session.packets_sent}, received {session.packets_received}; hung up"
    )
    server.close()
    client.close()
    return 0 if correlation >= 0.9 else 1


def _demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo_call(args))


def _listening_line(args: argparse.Namespace, host: str, port: int) -> str:
    transports = ", ".join(args.transport or ["udp"])
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    return f"listening on {host}:{port} ({transports}), app {args.app}{workers}"


def _serve(args: argparse.Namespace) -> int:
    if args.workers <= 1:
        return asyncio.run(_serve_forever(args))
    return _serve_with_workers(args)


def _serve_with_workers(args: argparse.Namespace) -> int:
    """`serve --workers N`: this process relays the UDP port's calls to N worker processes."""
    import os
    import socket

    from voip_core.sip import workers

    if not _known_app(args.app):
        return 2
    host, port = _serve_address(args)
    if set(args.transport or ["udp"]) != {"udp"}:
        print("--workers serves UDP only (a TCP or TLS flow stays in one process)", file=sys.stderr)
        return 2
    if not hasattr(os, "fork"):
        print("--workers needs fork(), which this system lacks", file=sys.stderr)
        return 2
    try:
        slices = [workers.port_slice(args.rtp_ports, i, args.workers) for i in range(args.workers)]
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as error:
        print(f"cannot listen on {host}:{port}: {error}", file=sys.stderr)
        sock.close()
        return 1
    args.listen = f"[{host}]:{sock.getsockname()[1]}"

    def worker(channel: Any) -> int:
        args.rtp_ports = slices[channel.index]
        return asyncio.run(_serve_forever(args, channel))

    def ready() -> None:
        print(_listening_line(args, host, sock.getsockname()[1]), flush=True)

    with sock:
        return workers.run_workers(sock, args.workers, worker, on_ready=ready)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``voip`` command."""
    parser = argparse.ArgumentParser(prog="voip", description="voip-core: calls from Python.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("plugins", help="list plugins, codecs, backends and apps")
    listing.set_defaults(handler=_plugins)

    loop = commands.add_parser(
        "loopback", help="send a WAV through every codec over RTP on loopback"
    )
    loop.add_argument("--wav", type=Path, help="WAV file to send (default: a test sweep)")
    loop.add_argument("--seconds", type=float, default=2.0, help="length of the test sweep")
    loop.add_argument(
        "--out-dir",
        type=Path,
        default=Path("loopback-out"),
        help="where to write the received audio",
    )
    loop.add_argument("--codec", action="append", help="only this codec (repeatable)")
    loop.add_argument(
        "--min-correlation",
        type=float,
        default=0.9,
        help="fail when received audio correlates less with the sent audio",
    )
    loop.set_defaults(handler=_loopback)

    serve = commands.add_parser(
        "serve", help="answer calls on HOST:PORT with an app (no registrar)"
    )
    _add_serve_arguments(serve)
    _add_sip_arguments(serve)

    call = commands.add_parser(
        "call", help="call a SIP URI directly, play a WAV, record the answer"
    )
    _add_call_arguments(call)
    _add_sip_arguments(call)

    sip = commands.add_parser(
        "sip",
        help="register an AOR at its registrar, then serve calls to it or place one",
        description="Register AOR (password from --password or $VOIP_SIP_PASSWORD), then "
        "serve calls to it or place one from it; unregisters on exit.",
    )
    sip.add_argument("aor", help="address of record, e.g. sip:alice@pbx.example.com")
    sip_commands = sip.add_subparsers(dest="sip_command", required=True)
    sip_serve = sip_commands.add_parser("serve", help="answer calls to the AOR with an app")
    _add_serve_arguments(sip_serve, listen_default=None)
    _add_sip_arguments(sip_serve)
    sip_call = sip_commands.add_parser("call", help="call a URI from the AOR")
    _add_call_arguments(sip_call)
    _add_sip_arguments(sip_call)
    sip_say = sip_commands.add_parser("say", help="call a URI from the AOR, say TEXT, hang up")
    _add_call_arguments(sip_say, say=True)
    _add_sip_arguments(sip_say)
    sip_agent = sip_commands.add_parser(
        "agent", help="answer calls to the AOR with the voice agent (serve --app agent)"
    )
    _add_serve_arguments(sip_agent, listen_default=None)
    _add_sip_arguments(sip_agent)
    sip_agent.set_defaults(app="agent")

    demo = commands.add_parser(
        "demo", help="a real SIP call on loopback: our client calls our echo app"
    )
    demo.add_argument("--seconds", type=float, default=2.0, help="how long to speak")
    demo.set_defaults(handler=_demo)
    return parser


def _add_serve_arguments(
    parser: argparse.ArgumentParser, listen_default: str | None = "127.0.0.1:5062"
) -> None:
    parser.add_argument(
        "--listen",
        default=listen_default,
        help="HOST:PORT to listen on, every transport (default for `sip`: the address "
        "that reaches the registrar, a free port)",
    )
    parser.add_argument("--app", default="echo", help="the app that answers (see `voip plugins`)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve with N processes sharing the UDP port, calls shared by Call-ID "
        "(default 1; about one per core)",
    )
    parser.add_argument(
        "--stt",
        help="speech-to-text backend for apps that transcribe (any plugin's name; "
        "default: the app's, whisper)",
    )
    parser.add_argument(
        "--stt-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the STT backend, e.g. model=/models/whisper-small (repeatable)",
    )
    parser.add_argument(
        "--vad", choices=["energy", "silero"], help="endpointing of transcribing apps"
    )
    parser.add_argument(
        "--llm", help="language-model backend for apps that talk (default: the app's, ollama)"
    )
    parser.add_argument(
        "--llm-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the LLM backend, e.g. model=llama3.2, host=http://gpu:11434, "
        "temperature=0.3 (repeatable)",
    )
    _add_tts_arguments(parser)
    parser.add_argument("--system-prompt", help="the agent's system prompt")
    parser.add_argument("--salutation", help='what the agent says first ("" for nothing)')
    parser.add_argument(
        "--json", action="store_true", help="print transcriptions and turns as JSON lines"
    )
    parser.add_argument(
        "--record-dir",
        type=Path,
        help="record every call (stereo WAV, caller left) into this folder "
        "(the record app's default: ./recordings)",
    )
    parser.set_defaults(handler=_serve)


def _add_tts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tts",
        help="text-to-speech backend for apps that speak: pocket-tts, espeak or any "
        "plugin's (default: the app's, pocket-tts)",
    )
    parser.add_argument(
        "--tts-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the TTS backend, e.g. config=/models/pocket.yaml (repeatable)",
    )
    parser.add_argument("--voice", help="the TTS voice: a name, or a WAV file to clone")


def _add_call_arguments(parser: argparse.ArgumentParser, *, say: bool = False) -> None:
    parser.add_argument("uri", help="whom to call, e.g. sip:echo@127.0.0.1:5062;transport=tcp")
    if say:
        parser.add_argument("say", metavar="TEXT", help="what to say; hangs up when said")
    else:
        parser.add_argument("--say", metavar="TEXT", help="say TEXT (TTS), then hang up")
    _add_tts_arguments(parser)
    parser.add_argument("--play", type=Path, help="WAV file to play when answered")
    parser.add_argument("--record", type=Path, help="write the call to this WAV file")
    parser.add_argument(
        "--record-layout",
        choices=["heard", "stereo", "mono", "mix", "said"],
        default="heard",
        help="what --record holds: what we hear (default), stereo (caller left, callee "
        "right), mono (FILE-heard.wav and FILE-said.wav), mix, or what we said",
    )
    parser.add_argument("--duration", type=float, help="hang up after this many seconds")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    parser.add_argument("--listen", help="HOST:PORT for our side (default: a free port)")
    parser.set_defaults(handler=_call)


def _add_sip_arguments(parser: argparse.ArgumentParser) -> None:
    """Transport, TLS, proxy and credentials, shared by serve, call and sip."""
    parser.add_argument(
        "--transport",
        action="append",
        choices=["udp", "tcp", "tls"],
        help="listen on this transport (repeatable; default udp, or the URI's for a call)",
    )
    parser.add_argument("--tls-cert", help="our TLS certificate chain (PEM), to listen on TLS")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--ca", help="CA certificates (PEM) to trust for TLS peers")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify TLS certificates (testing only)",
    )
    parser.add_argument(
        "--aor",
        dest="aor_option",
        help="register this address of record first (as `voip sip AOR ...` does)",
    )
    parser.add_argument("--registrar", help="registrar URI (default: the AOR's domain)")
    parser.add_argument("--expires", type=int, default=600, help="registration interval (s)")
    parser.add_argument("--proxy", help="outbound proxy URI for every request")
    parser.add_argument("--username", help="digest username (default: the AOR's user)")
    parser.add_argument(
        "--password", help="digest password (prefer $VOIP_SIP_PASSWORD: argv is visible)"
    )
    parser.add_argument(
        "--srtp",
        choices=["off", "offer", "require"],
        default="off",
        help="encrypt media with SRTP (SDES keys in SDP): off (default), offer "
        "(when the peer takes it) or require (no call without it)",
    )
    parser.add_argument(
        "--stun",
        metavar="HOST:PORT",
        help="ask this STUN server, from each call's RTP port, for our public address "
        "and put it in SDP (behind a NAT)",
    )
    parser.add_argument(
        "--rtp-ports",
        type=_port_range,
        default=DEFAULT_RTP_PORTS,
        metavar="LOW-HIGH",
        help="UDP ports for media, one even port per call "
        f"(default {DEFAULT_RTP_PORTS[0]}-{DEFAULT_RTP_PORTS[1] - 1})",
    )


def _port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        ports = int(low), int(high) + 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW-HIGH") from None
    if not 0 < ports[0] < ports[1] <= 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port range")
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``voip`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "aor_option", None):  # --aor on serve/call: the registered mode too
        args.aor = args.aor_option
    logging.basicConfig(
        level=logging.WARNING - 10 * args.verbose,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = args.handler
    status: int = handler(args)
    return status
