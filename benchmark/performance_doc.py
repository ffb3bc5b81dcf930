"""docs/performance.md's tables, generated from the measurement records in docs/perf/*.json.

    python -m benchmark.env_speed --json-out docs/perf/env_speed_$(date -u +%Y%m%dT%H%M).json
    python -m benchmark.env_speed --v2-only --json-out docs/perf/env_speed_v2_$(date -u +%Y%m%dT%H%M).json
    python -m benchmark.performance_doc tests -- -m "not slow"   # time the test suite, record it
    python -m benchmark.performance_doc tiers                     # time the quick and slow tiers, record, render
    python -m benchmark.performance_doc render                    # rewrite the tables
    python -m benchmark.performance_doc check                     # exit 1 if the doc is stale

Each record is one run of a command, with its machine, date and load average, kept as written; the
document's tables are rebuilt from all of them (newest last), so the history is the records, and
no number in docs/performance.md is typed by hand. A `<!-- perf:KIND -->` ... `<!-- /perf -->`
block takes the table of the records of that kind (`env_speed`, `env_speed_v2`, `tests`, `tiers`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from refexp_envs.helpformat import DefaultsHelpFormatter

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "perf"
DOC = ROOT / "docs" / "performance.md"
BLOCK = re.compile(r"(<!-- perf:(?P<kind>\w+) -->\n)(.*?)(<!-- /perf -->)", re.S)


def records(kind: str, folder: Path = RECORDS) -> list[dict]:
    """The records of one kind (file name `<kind>_<stamp>.json`), oldest first."""
    names = re.compile(rf"{re.escape(kind)}_\d[\w-]*\.json")  # env_speed_2026... but not env_speed_v2_2026...
    out = [json.loads(p.read_text()) | {"_file": p.name} for p in sorted(folder.glob(f"{kind}_*.json"))
           if names.fullmatch(p.name)]
    return sorted(out, key=lambda r: (r["date"], r["_file"]))


def _load(r: dict) -> str:
    load = r.get("load_average_at_end") or r.get("load_average")
    if isinstance(load, str):
        return load
    return "-" if not load else f"{load[0]:.1f}"


def env_speed_table(rows: list[dict]) -> str:
    head = ("| date | machine | load (1 min) | v0 pixels | v1 pixels | stock Metaworld pixels | v1 state | v1 / v0 | "
            "v1 / stock | record |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["steps_per_s"]
        lines.append(
            f"| {r['date']} | {r['machine']} | {_load(r)} | {s['refexp_two_drawer_v0_pixels']:.1f} | "
            f"{s['refexp_two_drawer_v1_pixels']:.1f} | {s['metaworld_drawer_open_v3_pixels']:.1f} | "
            f"{s['refexp_two_drawer_v1_state']:.1f} | {r['v1_over_v0']:.2f}x | {r['v1_over_stock']:.1f}x | "
            f"`perf/{r['_file']}` |")
    return "\n".join(lines) + "\n"


def env_speed_v2_table(rows: list[dict]) -> str:
    """One row per v2 env of each `--v2-only` record: its pixel and state steps/s and the speed goals
    (pixels >= 0.4 x its own state steps/s, and >= TwoDrawer-v1's pixel steps/s of the same run)."""
    lines = ["| date | machine | load (1 min) | env | pixels | state | pixels / state (goal >= 0.4) | "
             "pixels / TwoDrawer-v1 pixels (goal >= 1) | goals | record |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["steps_per_s"]
        for key, goal in r["v2_goals"].items():
            env = next((e for e in r.get("env_ids", {}) if r["env_ids"][e] == key), key)
            met = goal["pixels_over_own_state"] >= 0.4 and goal["pixels_over_two_drawer_v1_pixels"] >= 1.0
            lines.append(f"| {r['date']} | {r['machine']} | {_load(r)} | {env} | {s[key + '_pixels']:.1f} | "
                         f"{s[key + '_state']:.1f} | {goal['pixels_over_own_state']:.2f} | "
                         f"{goal['pixels_over_two_drawer_v1_pixels']:.2f} (v1: {s['refexp_two_drawer_v1_pixels']:.1f}) | "
                         f"{'met' if met else 'not met'} | `perf/{r['_file']}` |")
    return "\n".join(lines) + "\n"


def tests_table(rows: list[dict]) -> str:
    lines = ["| date | machine | load (1 min) at start | selection | outcome | wall time | record |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        sel = " ".join(r["pytest_args"]) or "(all)"
        lines.append(f"| {r['date']} | {r['machine']} | {_load(r)} | `{sel}` | {r['outcome']} | {r['wall_s']:.0f} s | "
                     f"`perf/{r['_file']}` |")
    return "\n".join(lines) + "\n"


def tiers_table(rows: list[dict]) -> str:
    lines = ["| date | machine | tier | tests | outcome | wall time | CPU time | load (1 min) at start | record |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for t in r["tiers"]:
            lines.append(f"| {r['date']} | {r['machine']} | `{' '.join(t['pytest_args'])}` | {t['tests']} | {t['outcome']} | "
                         f"{t['wall_s']:.0f} s | {t['cpu_s']:.0f} s | {t['load_average'][0]:.1f} | `perf/{r['_file']}` |")
    return "\n".join(lines) + "\n"


TABLES = {"env_speed": env_speed_table, "env_speed_v2": env_speed_v2_table, "tests": tests_table, "tiers": tiers_table}
TIERS = (["-m", "not slow"], ["-m", "slow"])  # the quick tier and the rest: together the whole suite


def render(text: str, folder: Path = RECORDS) -> str:
    def sub(m: re.Match) -> str:
        kind = m.group("kind")
        if kind not in TABLES:
            raise ValueError(f"unknown perf block {kind!r}; known: {sorted(TABLES)}")
        rows = records(kind, folder)
        return m.group(1) + (TABLES[kind](rows) if rows else "*No records yet.*\n") + m.group(4)

    return BLOCK.sub(sub, text)


def machine() -> str:
    from benchmark.results import machine as machine_info

    m = machine_info()
    return f"{m['cpu']}, {m['cpu_count']} cores"


def run_pytest(pytest_args: list[str]) -> dict:
    """Run `python -m pytest -q ARGS` from the repository root; its outcome, test count, wall and CPU
    time (the CPU seconds of pytest and the processes it waited for, about the wall time on an idle
    machine; daemons such as Ray's workers are not counted) and the load average at its start."""
    load = [round(x, 2) for x in os.getloadavg()]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", *pytest_args], cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = next((line.strip("= ") for line in reversed(p.stdout.splitlines()) if " in " in line and
                    re.search(r"\d+ (passed|failed|error)", line)), f"exit {p.returncode}")
    outcome = re.sub(r" in [\d.]+s.*$", "", summary)
    counts = {w: int(n) for n, w in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", outcome)}
    result = {"load_average": load, "pytest_args": pytest_args, "outcome": outcome,
              "tests": sum(counts.values()), "exit_code": p.returncode, "wall_s": round(wall, 1),
              "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)}
    failed = [line for line in p.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if failed:
        result["failed"] = failed
    return result


def _write_record(kind: str, record: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{kind}_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    return out


def _stamp() -> dict:
    return {"date": time.strftime("%Y-%m-%d", time.gmtime()), "time_utc": time.strftime("%H:%M", time.gmtime()),
            "machine": machine()}


def time_tests(pytest_args: list[str], folder: Path = RECORDS) -> Path:
    """Run `python -m pytest -q ARGS` from the repository root, time it, and write its record."""
    return _write_record("tests", _stamp() | run_pytest(pytest_args), folder)


def time_tiers(folder: Path = RECORDS, run=run_pytest) -> Path:
    """Time each tier of TIERS, one after the other (`run(pytest_args)` measures one), and write one
    record of them."""
    return _write_record("tiers", _stamp() | {"tiers": [run(args) for args in TIERS]}, folder)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.performance_doc", description=__doc__.splitlines()[0],
                                formatter_class=DefaultsHelpFormatter,
                                epilog="Exit status: 0 done, 1 check found docs/performance.md stale, 2 usage error.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("render", help="rewrite docs/performance.md's tables from docs/perf/*.json")
    sub.add_parser("check", help="exit 1 if docs/performance.md is not what render makes")
    t = sub.add_parser("tests", help="time the test suite (pytest arguments after --) and record it")
    t.add_argument("pytest_args", nargs="*", help="arguments for pytest, e.g. -- -m 'not slow'")
    sub.add_parser("tiers", help="time pytest -m 'not slow', then -m slow; record both and rewrite the doc's tables")
    a = p.parse_args(argv)
    if a.command in ("tests", "tiers"):
        out = time_tests(a.pytest_args) if a.command == "tests" else time_tiers()
        print(out)
        print(out.read_text())
        if a.command == "tests":
            return 0
    text = DOC.read_text()
    try:
        new = render(text)
    except (ValueError, KeyError) as exc:
        p.error(str(exc))
    if a.command == "check":
        if new != text:
            print(f"stale: {DOC} (run python -m benchmark.performance_doc render)", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    print(DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
