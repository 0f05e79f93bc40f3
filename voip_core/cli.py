"""The ``voip`` command.

``voip plugins`` lists what the plugin system found; ``voip loopback`` sends
a WAV through every codec over RTP on 127.0.0.1 and writes what came back;
``voip serve`` answers calls with an app.
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


async def _serve_forever(args: argparse.Namespace) -> int:
    import signal

    from voip_core import plugins
    from voip_core.rtp.protocol import RealtimeTransportProtocol
    from voip_core.sip.useragent import Dialog, UserAgent

    apps = plugins.apps()
    if args.app not in apps:
        print(f"no app named {args.app!r} (known: {', '.join(sorted(apps))})", file=sys.stderr)
        return 2
    host, port = _parse_host_port(args.listen)
    rtp = await RealtimeTransportProtocol.bind(host, 0)

    def call_ended(dialog: Dialog) -> None:
        session = dialog.session
        codec = getattr(getattr(session, "codec", None), "encoding_name", "-")
        seconds = time.monotonic() - dialog.started_at
        print(f"call from {dialog.caller} codec {codec} duration {seconds:.1f}s", flush=True)

    user_agent = UserAgent(app=apps[args.app], rtp=rtp, on_call_ended=call_ended)
    bound = await user_agent.listen(host, port)
    print(f"listening on {bound[0]}:{bound[1]} (udp), app {args.app}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    user_agent.close()
    rtp.close()
    return 0


def _recorder_class(app: type[Any]) -> type[Any]:
    """``app`` plus recording of what is heard (for ``voip call --record`` and the demo)."""
    import numpy as np

    class Recording(app):  # type: ignore[misc]
        def __post_init__(self) -> None:
            super().__post_init__()
            self.heard: list[Any] = []
            self.sent_all = asyncio.Event()

        def audio_received(self, *, audio: Any, rms: float) -> None:
            self.heard.append(audio)
            super().audio_received(audio=audio, rms=rms)

        def on_audio_sent(self) -> None:
            self.sent_all.set()
            super().on_audio_sent()

        def recording(self) -> Any:
            return np.concatenate(self.heard) if self.heard else np.zeros(0, np.float32)

    return Recording


def _local_host_for(target_host: str) -> str:
    """The local address that reaches ``target_host`` (no packet is sent)."""
    import socket

    family = socket.AF_INET6 if ":" in target_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((target_host, 9))
        return str(probe.getsockname()[0])


async def _place_call(args: argparse.Namespace) -> int:
    from voip_core.audio import AudioCall
    from voip_core.errors import CallFailed
    from voip_core.resample import resample
    from voip_core.rtp.protocol import RealtimeTransportProtocol
    from voip_core.sip.uri import SIPURI
    from voip_core.sip.useragent import UserAgent
    from voip_core.wav import read_wav, write_wav

    target = SIPURI.parse(args.uri)
    host = _local_host_for(target.host)
    rtp = await RealtimeTransportProtocol.bind(host, 0)
    app = _recorder_class(AudioCall)
    user_agent = UserAgent(app=app, rtp=rtp)
    await user_agent.listen(host, 0)
    started = time.monotonic()
    try:
        dialog = await user_agent.dial(target, timeout=args.timeout)
    except CallFailed as error:
        print(f"call to {args.uri} failed: {error}", file=sys.stderr)
        user_agent.close()
        rtp.close()
        return 1
    session = dialog.session
    played = 0.0
    if args.play:
        audio, rate = read_wav(args.play)
        audio = resample(audio, rate, session.sampling_rate_hz)
        played = len(audio) / session.sampling_rate_hz
        session.send_audio(audio)
    ended_by_peer = asyncio.ensure_future(session.wait_closed())
    waiting: asyncio.Future[Any]
    if args.duration is not None:
        waiting = asyncio.ensure_future(asyncio.sleep(args.duration))
    elif args.play:
        waiting = asyncio.ensure_future(session.sent_all.wait())
    else:
        waiting = asyncio.ensure_future(asyncio.Event().wait())
    await asyncio.wait({ended_by_peer, waiting}, return_when=asyncio.FIRST_COMPLETED)
    by = "them" if ended_by_peer.done() else "us"
    waiting.cancel()
    ended_by_peer.cancel()
    if by == "us":
        dialog.bye()
    recorded = session.recording()
    if args.record:
        write_wav(args.record, recorded, session.sampling_rate_hz)
    print(
        f"call to {args.uri}: answered, codec {session.codec.encoding_name}, played "
        f"{played:.2f}s, recorded {len(recorded) / session.sampling_rate_hz:.2f}s, "
        f"{time.monotonic() - started:.1f}s in all, hung up by {by}",
        flush=True,
    )
    await asyncio.sleep(0.1)  # let the BYE go out
    user_agent.close()
    rtp.close()
    return 0


def _call(args: argparse.Namespace) -> int:
    return asyncio.run(_place_call(args))


async def _demo_call(args: argparse.Namespace) -> int:
    from voip_core.audio import AudioCall, EchoCall
    from voip_core.loopback import SAMPLE_RATE, compare, test_signal
    from voip_core.rtp.protocol import RealtimeTransportProtocol
    from voip_core.sip.useragent import UserAgent

    server_rtp = await RealtimeTransportProtocol.bind("127.0.0.1", 0)
    client_rtp = await RealtimeTransportProtocol.bind("127.0.0.1", 0)
    server = UserAgent(app=EchoCall, rtp=server_rtp)
    host, port = await server.listen("127.0.0.1", 0)
    client = UserAgent(app=_recorder_class(AudioCall), rtp=client_rtp)
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
    server_rtp.close()
    client_rtp.close()
    return 0 if correlation >= 0.9 else 1


def _demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo_call(args))


def _serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve_forever(args))


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
    serve.add_argument("--listen", default="127.0.0.1:5062", help="HOST:PORT to listen on (UDP)")
    serve.add_argument("--app", default="echo", help="the app that answers (see `voip plugins`)")
    serve.set_defaults(handler=_serve)

    call = commands.add_parser(
        "call", help="call a SIP URI directly, play a WAV, record the answer"
    )
    call.add_argument("uri", help="whom to call, e.g. sip:echo@127.0.0.1:5062")
    call.add_argument("--play", type=Path, help="WAV file to play when answered")
    call.add_argument("--record", type=Path, help="write what we hear to this WAV file")
    call.add_argument("--duration", type=float, help="hang up after this many seconds")
    call.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    call.set_defaults(handler=_call)

    demo = commands.add_parser(
        "demo", help="a real SIP call on loopback: our client calls our echo app"
    )
    demo.add_argument("--seconds", type=float, default=2.0, help="how long to speak")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``voip`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * args.verbose,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = args.handler
    status: int = handler(args)
    return status
