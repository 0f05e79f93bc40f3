"""Benchmark cases for start-up cost: ``import voip_core`` in a fresh interpreter.

An import can only be timed once per process, so these cases measure
themselves (``MEASURED``): each runs a fresh ``python -c`` ``RUNS`` times
(after one discarded run that warms the file cache and writes ``.pyc``
files) and returns the median and p90. The children write and read their
bytecode under a temporary ``PYTHONPYCACHEPREFIX`` whatever
``PYTHONDONTWRITEBYTECODE`` says, so compiling the sources is not timed
and nothing is written into the working tree. The figure is the import as the
child's own ``time.perf_counter`` sees it, so interpreter start-up and
``site`` (which loads the editable-install finders) are not in it; the
whole child process, and an empty interpreter for comparison, are reported
alongside.

Each run also reports which heavy modules were imported by then; DESIGN.md
wants ``import voip_core`` free of torch and ctranslate2, and the plugins to
load their engines only when a backend is made. Nothing is asserted.

``import voip_core + codecs()`` adds loading every plugin's entry point, as
the first AudioCall does, to show what the plugins pull in at that point.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNS = 10
HEAVY_MODULES = ("torch", "ctranslate2", "faster_whisper", "opuslib", "soxr", "pluggy", "numpy")
REPOSITORY = Path(__file__).resolve().parent.parent

_CHILD = """\
import time
t = time.perf_counter()
{statement}
elapsed = time.perf_counter() - t
import sys
print(repr(elapsed))
print(" ".join(name for name in {heavy!r} if name in sys.modules))
"""


def _environment(bytecode_cache: str) -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = bytecode_cache
    return environment


def _child(statement: str, environment: dict[str, str]) -> tuple[float, float, set[str]]:
    """Run one fresh interpreter: (import seconds, process seconds, heavy modules loaded)."""
    code = _CHILD.format(statement=statement, heavy=HEAVY_MODULES)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    process = time.perf_counter() - start
    elapsed, _, loaded = completed.stdout.partition("\n")
    return float(elapsed), process, set(loaded.split())


def _empty_interpreter_s(environment: dict[str, str]) -> float:
    runs = []
    for _ in range(RUNS + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], cwd=REPOSITORY, env=environment, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs[1:])


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def measure(statement: str) -> Callable[[], dict[str, Any]]:
    """A MEASURED case that times ``statement`` in ``RUNS`` fresh interpreters."""

    def run() -> dict[str, Any]:
        imports: list[float] = []
        processes: list[float] = []
        loaded: set[str] = set()
        with tempfile.TemporaryDirectory(prefix="voip-bench-pycache-") as bytecode_cache:
            environment = _environment(bytecode_cache)
            _child(statement, environment)  # discarded: file cache, .pyc
            for _ in range(RUNS):
                seconds, process, heavy = _child(statement, environment)
                imports.append(seconds * 1e6)
                processes.append(process * 1e3)
                loaded |= heavy
            empty_ms = _empty_interpreter_s(environment) * 1e3
        process_ms = statistics.median(processes)
        return {
            "median_us": statistics.median(imports),
            "p90_us": _p90(imports),
            "min_us": min(imports),
            "rounds": RUNS,
            "calls_per_round": 1,
            "process_ms": round(process_ms, 1),
            "empty_interpreter_ms": round(empty_ms, 1),
            "process_minus_empty_ms": round(process_ms - empty_ms, 1),
            "heavy_modules": {name: name in loaded for name in HEAVY_MODULES},
        }

    return run


MEASURED: dict[str, Callable[[], dict[str, Any]]] = {
    "import voip_core": measure("import voip_core"),
    "import voip_core + codecs()": measure("import voip_core.plugins\nvoip_core.plugins.codecs()"),
}
