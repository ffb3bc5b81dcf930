"""Ray's overhead on one machine: the same harness run and dataset build, --backend ray vs local, interleaved.

    python -m benchmark.ray_overhead --json benchmark/results/ray_overhead.json

Ray is started first (a local Ray with this machine's cores; its start-up is reported apart and
not counted), then each round runs the harness (`--trials-per-task` x 2 tasks, `--episodes`
episodes, scripted-explorer, pixels) and the dataset build (`--dataset`, collect + assemble, no
pixel cache) on the local backend and on Ray, alternating which goes first, so that the load of a
shared machine falls on both alike. Every measurement records the 1-minute load average before and
after it. Checks that the two backends give the same trials and the same dataset SHA-256 (and the
registry's pin, where the dataset has one). Goal (issue 12): ray/local at most 1.25.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def harness(backend: str, trials_per_task: int, episodes: int | None) -> tuple[float, dict]:
    from benchmark.run import evaluate

    t = time.perf_counter()
    res = evaluate("scripted-explorer", "RefExp/TwoDrawer-v0", episodes=episodes, trials_per_task=trials_per_task,
                   workers=0, progress=False, backend=backend)
    return time.perf_counter() - t, res


def build(backend: str, dataset: str, root: Path) -> tuple[float, str]:
    from refexp_envs.datasets import checksum as ck
    from refexp_envs.datasets.build import build_dataset

    os.environ["MINARI_DATASETS_PATH"] = str(root / backend)
    t = time.perf_counter()
    out = build_dataset(dataset, workers=0, progress=False, force=True, cache=False, backend=backend)
    return time.perf_counter() - t, ck.checksum_dir(out)


def table(rows: list[dict]) -> str:
    """The markdown table of a run's rows, and ray/local per job (sums over rounds)."""
    out = ["| job | round | backend | wall s | load before / after | same bits as the other backend |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        extra = "" if row.get("matches_pin") is None else f" (registry pin: {row['matches_pin']})"
        out.append(f"| {row['job']} | {row['round']} | {row['backend']} | {row['wall_s']} | {row['load_before']} / "
                   f"{row['load_after']} | {row.get('same_as_other')}{extra} |")
    out.append("")
    for job, ratio in ratios(rows).items():
        out.append(f"* {job}: ray / local = {ratio:.2f} (goal <= 1.25)")
    return "\n".join(out)


def ratios(rows: list[dict]) -> dict[str, float]:
    out = {}
    for job in dict.fromkeys(row["job"] for row in rows):
        loc = sum(x["wall_s"] for x in rows if x["job"] == job and x["backend"] == "local")
        ray_s = sum(x["wall_s"] for x in rows if x["job"] == job and x["backend"] == "ray")
        out[job] = round(ray_s / loc, 3)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.ray_overhead", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--trials-per-task", type=int, default=50, help="harness trials per task (2 tasks)")
    p.add_argument("--episodes", type=int, default=None, help="episodes per trial (default: the env's K from refexp_envs.ENVS)")
    p.add_argument("--dataset", default="refexp/two-drawer/expert-v0", help="dataset id to build")
    p.add_argument("--rounds", type=int, default=1, help="rounds of (local, ray) pairs, alternating the order")
    p.add_argument("--skip-harness", action="store_true", help="measure the build only")
    p.add_argument("--skip-build", action="store_true", help="measure the harness only")
    p.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    p.add_argument("--table", default=None, metavar="JSON", help="print the markdown table of an earlier run's JSON, run nothing")
    a = p.parse_args(argv)
    if a.table:
        rec = json.loads(Path(a.table).read_text())
        print(f"{rec['date']}, {rec['machine']} ({rec.get('cpu', '?')}, {rec['cpu_count']} cores), Ray {rec['ray_version']} "
              f"(start-up {rec['ray_startup_s']} s, not counted); `{rec['command']}`\n")
        print(table(rec["rows"]))
        return 0
    if a.trials_per_task < 1 or (a.episodes is not None and a.episodes < 1) or a.rounds < 1:
        p.error("counts must be positive")

    from benchmark.results import machine
    from refexp_envs.backend import connect_ray
    from refexp_envs.datasets.registry import get_spec

    t = time.perf_counter()
    ray = connect_ray(None)
    ray.get(ray.remote(lambda: 1).remote())
    startup = time.perf_counter() - t
    print(f"ray started in {startup:.1f} s (not counted); cluster {ray.cluster_resources()}", flush=True)
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="refexp-ray-overhead-"))
    for r in range(a.rounds):
        order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
        if not a.skip_harness:
            out = {}
            for backend in order:
                before = _load()
                wall, res = harness(backend, a.trials_per_task, a.episodes)
                out[backend] = res
                rows.append({"job": f"harness {2 * a.trials_per_task} trials x {res['episodes']} ep", "round": r,
                             "backend": backend, "wall_s": round(wall, 1), "workers": res["workers"],
                             "load_before": before, "load_after": _load()})
                print(rows[-1], flush=True)
            same = all(out["local"][k] == out["ray"][k] for k in ("raw_successes", "raw_returns", "raw_rollouts"))
            rows[-1]["same_as_other"] = rows[-2]["same_as_other"] = same
        if not a.skip_build:
            digests = {}
            for backend in order:
                before = _load()
                wall, digest = build(backend, a.dataset, tmp)
                digests[backend] = digest
                rows.append({"job": f"build {a.dataset}", "round": r, "backend": backend, "wall_s": round(wall, 1),
                             "workers": os.cpu_count(), "load_before": before, "load_after": _load(), "sha256": digest})
                print(rows[-1], flush=True)
            same = digests["local"] == digests["ray"]
            pin = get_spec(a.dataset).sha256
            rows[-1]["same_as_other"] = rows[-2]["same_as_other"] = same
            rows[-1]["matches_pin"] = rows[-2]["matches_pin"] = None if pin is None else pin == digests["ray"]
    ray.shutdown()

    print("\n" + table(rows))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.platform(),
            "cpu": machine()["cpu"], "cpu_count": os.cpu_count(), "ray_version": ray.__version__, "ray_startup_s": round(startup, 1),
            "rows": rows, "ray_over_local": ratios(rows), "command": "python -m benchmark.ray_overhead " + " ".join(
                sys.argv[1:] if argv is None else argv)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
