"""Benchmark cases for whole SIP calls: `voip serve --app echo` under sipp's built-in UAC.

`voip serve` runs as a subprocess on a free UDP port of 127.0.0.1; sipp's
built-in ``uac`` scenario (INVITE, optional 100/180, 200, ACK, BYE, 200; no
media, calls of zero length) places calls at increasing rates (``-r``),
``min(2000, 3 x rate)`` calls per step (at least 300), until a step is not
clean twice in a row (an unclean step is run once more, since the machine
may be shared) or the time budget (about 60 s of steps) is spent.

A step is **clean** when sipp counts every call successful and none failed
*and* the server logged the end of every call (one ``call from ...`` line
per BYE it answered) within 2 s of sipp finishing, *and* the server kept
up: sipp achieved at least 90 % of the target rate and retransmitted
nothing. The second condition matters: sipp's built-in scenario takes any
200 after its BYE as the BYE's answer, so when the server is overloaded and
the kernel drops the ACK and BYE, a retransmitted 200 to the INVITE makes
sipp count a call that the server never saw end (it hangs up itself 32 s
later, after no ACK). The third matters once the server's receive buffer
is large (it asks for 4 MiB): an overloaded server then drops nothing, it
queues, and every call still succeeds, only later and later; sipp then
falls behind its target rate and retransmits requests left unanswered for
500 ms [RFC 3261 §17.1.1.2].

Per step: target and achieved rate (sipp's cumulative call rate), calls,
successful, failed, server-ended calls, sipp's retransmissions, the
server's CPU time per call (``utime + stime`` from ``/proc/PID/stat``
before and after, including its backlog after sipp stops), the INVITE ->
200 response time p50 / p99 (``-trace_rtt``, whole milliseconds), the
machine's UDP receive-buffer drops during the step (``/proc/net/snmp``
``RcvbufErrors``, every process) and the wall time.

``sip call: voip serve echo, CPU per call`` (``MEASURED``): ``median_us``
is the median over the clean steps of the server's CPU µs per call (the
steps' figures give p90 and min); the notes carry the highest clean rate,
whether it reached the target of 2000 calls/s, and every step.
``sip_call_rates`` (``REPORTS``): the steps as a table. Both come from one
ramp (run once, shared). The same again for ``voip serve --workers 2`` (two
worker processes behind the relay; CPU is the relay's and the workers'
together). Needs sipp (``apt-get install sip-tester``) and Linux
``/proc``; nothing is asserted.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from shutil import which
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
RATES = (100, 200, 300, 400, 600, 800, 1000, 1200, 1500, 1700, 2000, 2200, 2500, 3000)
TARGET_CPS = 2000
#: A clean step reaches at least this share of its target rate.
KEEPING_UP = 0.9
STEP_BUDGET_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_ramps: dict[int, dict[str, Any]] = {}


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its children (fields 14 and 15 of /proc/PID/stat), in s."""
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
        pids = [pid, *map(int, children.read().split())]
    ticks = 0
    for each in pids:
        with open(f"/proc/{each}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()  # the name may hold spaces
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def _udp_receive_drops() -> int:
    """The machine's UDP RcvbufErrors so far (/proc/net/snmp)."""
    with open("/proc/net/snmp", encoding="ascii") as snmp:
        rows = [line.split() for line in snmp if line.startswith("Udp:")]
    header, values = rows[0], rows[1]
    return int(values[header.index("RcvbufErrors")])


def _ended_calls(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("call from"))


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _sipp_figures(workdir: Path, stdout: str) -> dict[str, Any]:
    """Successful, failed, retransmissions, call rate, response times of one sipp run."""
    figures: dict[str, Any] = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) >= 3 and cells[0] in {"Successful call", "Failed call", "Call Rate"}:
            figures[cells[0]] = float(cells[2].split()[0])
    stats = sorted(workdir.glob("uac_*_.csv"))
    if stats:
        lines = stats[-1].read_text().splitlines()
        header, last = lines[0].split(";"), lines[-1].split(";")
        figures["retransmissions"] = int(last[header.index("Retransmissions(C)")])
    rtt: list[float] = []
    for path in workdir.glob("uac_*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            cells = line.split(";")
            if len(cells) >= 2:
                rtt.append(float(cells[1]))
    figures["rtt"] = rtt
    return figures


def _step(
    sipp: str, server: subprocess.Popen[str], port: int, log: Path, rate: int
) -> dict[str, Any]:
    calls = max(300, min(2000, 3 * rate))
    ended_before = _ended_calls(log)
    cpu_before = _cpu_seconds(server.pid)
    drops_before = _udp_receive_drops()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="voip-bench-sipp-") as workdir:
        completed = subprocess.run(
            [
                *(sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1"),
                *("-p", str(_free_udp_port()), "-r", str(rate), "-m", str(calls), "-nostdin"),
                *("-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "100"),
                *("-recv_timeout", "4000", "-timeout", "30s"),
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        sipp_s = time.perf_counter() - started
        figures = _sipp_figures(Path(workdir), completed.stdout)
    deadline = time.monotonic() + 2.0  # the server's backlog: every BYE answered by now?
    while _ended_calls(log) - ended_before < calls and time.monotonic() < deadline:
        time.sleep(0.05)
    ended = _ended_calls(log) - ended_before
    cpu = _cpu_seconds(server.pid) - cpu_before
    successful = int(figures.get("Successful call", 0))
    failed = int(figures.get("Failed call", calls - successful))
    rtt = figures["rtt"]
    achieved = round(figures.get("Call Rate", calls / sipp_s), 1)
    return {
        "target_cps": rate,
        "achieved_cps": achieved,
        "calls": calls,
        "successful": successful,
        "failed": failed,
        "server_ended": ended,
        "clean": failed == 0
        and successful == calls
        and ended == calls
        and achieved >= KEEPING_UP * rate
        and not figures.get("retransmissions"),
        "retransmissions": figures.get("retransmissions"),
        "cpu_ms_per_call": round(1000 * cpu / calls, 3),
        "rtt_p50_ms": _percentile(rtt, 0.5),
        "rtt_p99_ms": _percentile(rtt, 0.99),
        "udp_drops": _udp_receive_drops() - drops_before,
        "sipp_s": round(sipp_s, 2),
    }


def _start_server(directory: Path, workers: int) -> tuple[subprocess.Popen[str], int, Path]:
    port = _free_udp_port()
    log = directory / "serve.log"
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
        cwd=REPOSITORY,
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 20
    while "listening on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"voip serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return process, port, log


def ramp(workers: int = 1) -> dict[str, Any]:
    """Run the rate ramp once per worker count (later calls return the same result)."""
    if workers in _ramps:
        return _ramps[workers]
    sipp = which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed (apt-get install sip-tester)")
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="voip-bench-serve-") as directory:
        server, port, log = _start_server(Path(directory), workers)
        try:
            warm_up = _step(sipp, server, port, log, 100)  # imports, caches, first calls
            started = time.perf_counter()
            for rate in RATES:
                for _attempt in range(2):  # an unclean step once more: the machine is shared
                    step = _step(sipp, server, port, log, rate)
                    steps.append(step)
                    print(
                        f"  {workers} worker(s), {rate} calls/s: "
                        f"{step['achieved_cps']} achieved, "
                        f"{'clean' if step['clean'] else 'NOT clean'}",
                        file=sys.stderr,
                        flush=True,
                    )
                    if step["clean"]:
                        break
                if not step["clean"] or time.perf_counter() - started > STEP_BUDGET_S:
                    break
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    clean = [step for step in steps if step["clean"]]
    best = max(clean, key=lambda step: step["target_cps"]) if clean else None
    _ramps[workers] = {
        "workers": workers,
        "steps": steps,
        "warm_up_clean": warm_up["clean"],
        "max_clean_target_cps": best["target_cps"] if best else 0,
        "max_clean_achieved_cps": best["achieved_cps"] if best else 0.0,
        "target_cps": TARGET_CPS,
        "meets_target": bool(best and best["target_cps"] >= TARGET_CPS),
    }
    return _ramps[workers]


def cpu_per_call(workers: int = 1) -> dict[str, Any]:
    result = ramp(workers)
    per_call_us = [1000 * step["cpu_ms_per_call"] for step in result["steps"] if step["clean"]]
    if not per_call_us:
        raise RuntimeError(f"no clean step: {result['steps']}")
    return {
        "median_us": statistics.median(per_call_us),
        "p90_us": max(per_call_us)
        if len(per_call_us) < 2
        else statistics.quantiles(per_call_us, n=10, method="inclusive")[-1],
        "min_us": min(per_call_us),
        "rounds": len(per_call_us),
        "calls_per_round": max(step["calls"] for step in result["steps"]),
        "max_clean_target_cps": result["max_clean_target_cps"],
        "max_clean_achieved_cps": result["max_clean_achieved_cps"],
        "meets_target_2000_cps": result["meets_target"],
        "first_unclean_step": next((s for s in result["steps"] if not s["clean"]), None),
    }


def rate_table(workers: int = 1) -> dict[str, dict[str, Any]]:
    """The ramp's steps as rows (numbers only, for the printed table)."""
    rows: dict[str, dict[str, Any]] = {}
    for step in ramp(workers)["steps"]:
        name = f"{step['target_cps']} cps{'' if step['clean'] else ' (NOT clean)'}"
        while name in rows:
            name += " again"
        rows[name] = {
            key: value
            for key, value in step.items()
            if key not in {"target_cps", "clean"} and value is not None
        }
    return rows


MEASURED: dict[str, Callable[[], dict[str, Any]]] = {
    "sip call: voip serve echo, CPU per call": cpu_per_call,
    "sip call: voip serve echo --workers 2, CPU per call": lambda: cpu_per_call(2),
}
REPORTS: dict[str, Callable[[], object]] = {
    "sip_call_rates": rate_table,
    "sip_call_rates_2_workers": lambda: rate_table(2),
}
