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
