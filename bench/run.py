"""Run every benchmark case in ``bench/cases_*.py``, print a table, write JSON.

Usage::

    python bench/run.py                      # everything
    python bench/run.py --filter PCMU        # only names containing "PCMU"
    python bench/run.py --out /tmp/b.json    # somewhere else than bench/results/latest.json

A case module is any ``bench/cases_*.py`` file, imported by path (``bench``
is not a package). It may define, all optional:

``CASES: dict[str, Callable[[], object]]``
    Timed here: each callable is one operation (one packet, one frame).
``MEASURED: dict[str, Callable[[], dict[str, object]]]``
    Cases that time themselves (a subprocess, say) and return at least
    ``median_us``; other keys are kept in the JSON as they are.
``REPORTS: dict[str, Callable[[], object]]``
    Figures that are not timings (the resampler's added delay); the
    JSON-able result goes under its name at the top level of the JSON.

A module that fails to import, and a case that raises, is reported and
skipped; the rest still run. Nothing here asserts a time: these are
benchmarks, not tests.

How a ``CASES`` entry is timed (``timeit``'s autorange, then rounds): the
case is called once, then in batches of 1, 2, 5, 10, 20, 50, ... calls until
one batch takes at least ``--batch-ms``; that batch size is run once more as
a warm-up and then ``--rounds`` times with the garbage collector off. Each
round gives one figure, nanoseconds per call; the table shows the median and
the 90th percentile of those rounds.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "results" / "latest.json"

#: Figures (µs per call) from the library voip-core replaces, by case name.
BASELINES: dict[str, float] = {
    "rtp parse": 1.8,
    "sdp parse": 54.0,
    "sip parse INVITE": 67.0,
    "sip serialize INVITE": 22.0,
    "PCMU decode+resample to 16k": 24.0,
    "PCMU encode from 16k": 22.0,
    "PCMU encode from 16k, 1 s utterance": 22.0,
    "opus decode+resample to 16k": 56.0,
    "opus encode from 16k": 284.0,
    "opus encode from 16k, 1 s utterance": 284.0,
    "import voip_core": 115_000.0,
}

#: Distributions whose versions are recorded with the machine info.
_VERSIONS_OF = ("voip-core", "voip-opus", "numpy", "soxr", "g722", "opuslib", "pluggy")

#: Top-level JSON keys that a report cannot take.
_RESERVED = frozenset({"machine", "settings", "cases"})

Case = Callable[[], object]
Measured = Callable[[], dict[str, Any]]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


# Discovery --------------------------------------------------------------------------------


def discover(directory: Path = BENCH_DIR) -> list[ModuleType]:
    """Import every ``cases_*.py`` in ``directory`` by path; warn about and skip failures."""
    modules: list[ModuleType] = []
    for path in sorted(directory.glob("cases_*.py")):
        name = f"_voip_bench_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot make an import spec for {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up here
            spec.loader.exec_module(module)
        except BaseException as error:  # a case module must never stop the others
            if isinstance(error, KeyboardInterrupt):
                raise
            sys.modules.pop(name, None)
            _warn(f"skipping {path.name}: {type(error).__name__}: {error}")
            continue
        modules.append(module)
    return modules


def _entries(module: ModuleType, attribute: str) -> dict[str, Any]:
    value = getattr(module, attribute, None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _warn(f"{module.__file__}: {attribute} is not a dict; ignored")
        return {}
    return value


# Timing -----------------------------------------------------------------------------------


def _time_batch(case: Case, calls: int) -> int:
    """Nanoseconds for ``calls`` calls of ``case``."""
    loop = range(calls)
    start = time.perf_counter_ns()
    for _ in loop:
        case()
    return time.perf_counter_ns() - start


def calibrate(case: Case, batch_ns: int) -> int:
    """Calls per batch so that one batch takes at least ``batch_ns`` (1, 2, 5, 10, 20, ...)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            calls = step * scale
            if _time_batch(case, calls) >= batch_ns:
                return calls
        scale *= 10


def time_case(case: Case, *, rounds: int, batch_ms: float) -> dict[str, Any]:
    """Median, p90 and minimum µs per call of ``case`` over ``rounds`` batches."""
    case()  # first call: lazy set-up, caches
    calls = calibrate(case, round(batch_ms * 1e6))
    _time_batch(case, calls)  # warm-up at the final batch size
    per_call_ns: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            per_call_ns.append(_time_batch(case, calls) / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "median_us": statistics.median(per_call_ns) / 1000,
        "p90_us": _p90(per_call_ns) / 1000,
        "min_us": min(per_call_ns) / 1000,
        "rounds": rounds,
        "calls_per_round": calls,
    }


def _p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def call_overhead_us(rounds: int, batch_ms: float) -> float:
    """µs the harness adds to every call (loop step + call of a no-op), for reading tiny figures."""
    return float(time_case(lambda: None, rounds=rounds, batch_ms=batch_ms)["median_us"])


# Machine ----------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def _git_revision() -> str | None:
    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        revision = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}-dirty" if dirty else revision


def _libopus_version() -> str | None:
    """The libopus that opuslib would load (its version string), if there is one."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("opus")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
        library.opus_get_version_string.restype = ctypes.c_char_p
        version: bytes = library.opus_get_version_string()
    except (OSError, AttributeError):
        return None
    return version.decode("ascii", "replace")


def machine_info() -> dict[str, Any]:
    """Where the figures were taken: interpreter, OS, CPU, library versions."""
    versions: dict[str, str | None] = {}
    for distribution in _VERSIONS_OF:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = None
    versions["libopus"] = _libopus_version()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "versions": versions,
        "git": _git_revision(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


# Output -----------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(headers: list[str], rows: Iterable[list[str]], *, left: int = 1) -> None:
    """Print rows aligned under headers: the first ``left`` columns left-aligned, the rest right."""
    rows = list(rows)
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def print_cases(cases: dict[str, dict[str, Any]]) -> None:
    headers = ["case", "median µs", "p90 µs", "min µs", "calls/round", "baseline µs", "speed-up"]
    rows = []
    for name, result in cases.items():
        if "error" in result:
            rows.append([name, "error", "", "", "", _number(BASELINES.get(name)), ""])
            continue
        speed_up = result.get("speed_up")
        rows.append(
            [
                name,
                _number(result["median_us"]),
                _number(result.get("p90_us")),
                _number(result.get("min_us")),
                str(result.get("calls_per_round", "")),
                _number(result.get("baseline_us")),
                f"{speed_up:.2f}x" if speed_up is not None else "",
            ]
        )
    print_table(headers, rows)


def print_report(name: str, data: object) -> None:
    """A report as a table when it is a dict of dicts of numbers, else as JSON."""
    print(f"\n{name}")
    if isinstance(data, dict) and data and all(isinstance(row, dict) for row in data.values()):
        columns = list(dict.fromkeys(key for row in data.values() for key in row))
        rows = [
            [str(key)] + [_number(row.get(column)) for column in columns]
            for key, row in data.items()
        ]
        print_table(["", *columns], rows)
    else:
        print(json.dumps(data, indent=2))


def print_notes(cases: dict[str, dict[str, Any]]) -> None:
    """Extra fields of self-measured cases (anything but the standard timing keys)."""
    standard = {
        "median_us",
        "p90_us",
        "min_us",
        "rounds",
        "calls_per_round",
        "baseline_us",
        "speed_up",
    }
    for name, result in cases.items():
        extra = {key: value for key, value in result.items() if key not in standard}
        if extra:
            print(f"\n{name}:")
            for key, value in extra.items():
                print(f"  {key}: {json.dumps(value)}")


# Main -------------------------------------------------------------------------------------


def _selected(name: str, filters: list[str]) -> bool:
    return not filters or any(text.lower() in name.lower() for text in filters)


def _store(table: dict[str, Any], name: str, value: Any, source: str) -> None:
    if name in table:
        _warn(f"{source}: {name!r} is defined twice; the later one is kept")
    table[name] = value


def _with_baseline(name: str, result: dict[str, Any]) -> dict[str, Any]:
    baseline = BASELINES.get(name)
    if baseline is not None and result.get("median_us"):
        result["baseline_us"] = baseline
        result["speed_up"] = baseline / float(result["median_us"])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    filters: list[str] = args.filter or []
    modules = discover()
    results: dict[str, Any] = {"machine": machine_info()}
    results["machine"]["call_overhead_us"] = call_overhead_us(args.rounds, args.batch_ms)
    results["settings"] = {"rounds": args.rounds, "batch_ms": args.batch_ms, "filter": filters}
    cases: dict[str, dict[str, Any]] = {}
    reports: dict[str, Any] = {}
    for module in modules:
        source = Path(module.__file__ or "?").name
        for name, case in _entries(module, "CASES").items():
            if not _selected(name, filters):
                continue
            print(f"timing {name} ...", file=sys.stderr, flush=True)
            try:
                result = time_case(case, rounds=args.rounds, batch_ms=args.batch_ms)
            except Exception as error:
                _warn(f"{source}: case {name!r} failed")
                traceback.print_exc()
                result = {"error": f"{type(error).__name__}: {error}"}
            _store(cases, name, _with_baseline(name, result), source)
        for name, measure in _entries(module, "MEASURED").items():
            if not _selected(name, filters):
                continue
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            try:
                result = dict(measure())
                float(result["median_us"])
            except Exception as error:
                _warn(f"{source}: measured case {name!r} failed")
                traceback.print_exc()
                result = {"error": f"{type(error).__name__}: {error}"}
            _store(cases, name, _with_baseline(name, result), source)
        for name, report in _entries(module, "REPORTS").items():
            if not _selected(name, filters):
                continue
            if name in _RESERVED:
                _warn(f"{source}: a report may not be called {name!r}; skipped")
                continue
            try:
                data = report()
            except Exception as error:
                _warn(f"{source}: report {name!r} failed")
                traceback.print_exc()
                data = {"error": f"{type(error).__name__}: {error}"}
            _store(reports, name, data, source)
    results["cases"] = cases
    results.update(reports)

    machine = results["machine"]
    print(
        f"\nPython {machine['python']} on {machine['platform']}, {machine['cpu']}, "
        f"{machine['cpus_usable']}/{machine['cpu_count']} CPUs usable; "
        f"harness overhead {machine['call_overhead_us'] * 1000:.0f} ns per call\n"
    )
    print_cases(cases)
    print_notes({name: result for name, result in cases.items() if "error" not in result})
    for name, data in reports.items():
        print_report(name, data)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--filter",
        action="append",
        metavar="SUBSTRING",
        help="run only cases whose name contains SUBSTRING (case-insensitive; may repeat)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON file (default {DEFAULT_OUT})"
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case (default 15)")
    parser.add_argument(
        "--batch-ms", type=float, default=20.0, help="least duration of one round (default 20 ms)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.batch_ms <= 0:
        parser.error("--rounds must be at least 1 and --batch-ms positive")
    results = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
