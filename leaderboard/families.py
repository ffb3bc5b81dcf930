"""Every meta-RL method family side by side: one table per env, generated from the results files.

    python -m leaderboard.families                             # print the tables
    python -m leaderboard.families --write docs/baselines.md   # refresh the block between the marker lines
    python -m leaderboard.families --check docs/baselines.md   # exit 1 where it is stale

Reads every harness results file (schema 2 and up) at the top level of `--results` (default
`refexp_baselines/results/`; `pre-issue22/` is not read) and writes, for each env of `ENVS` and
each K, a markdown table with a row per agent shown: the method family's (`leaderboard.rows.method_family`,
rows in the order of `leaderboard.rows.METHOD_FAMILIES`), its agent, training seeds, trials per
seed, success per episode and the exploration score with 95% intervals re-derived from the file's
raw successes (`benchmark.stats.summarise`, as `refexp_baselines.report` and the board do), the
seeds at the Bayes-optimal curve, the data used and the training wall time on the project's
machine; agents that observed the state (`--obs-type state`, never ranked) get tables of their own
after the pixel table. The RefExp family shows its paper agents (`REFEXP_AGENTS`; its other variants are in
docs/results.md); every other family shows all its agents.

The data used is the results file's (`leaderboard.rows.training_data`), with the dataset's size from
its registry entry (`refexp_envs.datasets.registry`). The wall time is read, as data, from the
shipped checkpoints' metadata under `--checkpoints` (default `refexp_baselines/checkpoints/`): a
RefExp agent's `<env-slug>-<agent>[-seed<S>].json` records `stage_timing` (the frames stage's
training and encoding, the belief stage's training, the agent stage's pool and training); those
are summed per training seed, and the median over the seeds is shown. A family's shipped
`families/<agent>/<env>-seed<S>/config.json` gives its `train_wall_s` where it records one (RL^2's);
the others record neither, so those rows say "not recorded".

A document takes the tables where it holds the two marker lines

    <!-- families:table -->
    <!-- /families -->

and `--write` replaces what lies between them, so the numbers are never typed by hand. A document
that also holds `<!-- families:other-secret -->` ... `<!-- /families:other-secret -->` gets the
re-scores under another secret (`OTHER_SECRET`, a subfolder of `--results` written by
`dev/rescore-other-secret.sh`) beside the public-secret rows of every family but RefExp: both
exploration scores, and whether the row holds (the intervals overlap, `leaderboard.verify`'s test,
and the agent version is the same).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from benchmark import stats
from benchmark.schema import num_choices
from benchmark.text import interval, md_cell
from leaderboard import rows as R
from leaderboard import verify
from refexp_envs.datasets.registry import REGISTRY
from refexp_envs.helpformat import DefaultsHelpFormatter

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "refexp_baselines" / "results"
DEFAULT_CHECKPOINTS = ROOT / "refexp_baselines" / "checkpoints"
# The envs the families are compared on (issue 24; Desk-v2's held-out desks, issue 25), in the order of their tables
ENVS = ("RefExp/TwoDrawer-v1", "RefExp/ThreeDrawer-v1", "RefExp/Desk-v2")
# The RefExp family's rows: the paper's method, its Figure-2 ablations and the one-step agent
REFEXP_AGENTS = ("ours", "no-expl", "no-cql", "ours-onestep")
# The families a "No row yet" line names: every method family but the scripted policies and "other"
META_RL_FAMILIES = tuple(f for f in R.METHOD_FAMILIES if f not in ("scripted", "other"))
# The shipped RefExp checkpoint's stage times summed as its training wall time (paths in `stage_timing`)
TIMED_STAGES = (("frames", "train_s"), ("frames", "encode_s"), ("belief", "train_s"),
                ("agent", "timing", "pool_s"), ("agent", "timing", "train_s"))
COMMAND = "python -m leaderboard.families --write docs/baselines.md"
BLOCK = re.compile(r"(<!-- families:table -->\n)(?P<body>.*?)(<!-- /families -->)", re.S)
OTHER_BLOCK = re.compile(r"(<!-- families:other-secret -->\n)(?P<body>.*?)(<!-- /families:other-secret -->)", re.S)
# The subfolder of the results folder that holds the re-scores under another secret (dev/LOG.md 47)
OTHER_SECRET = "other-secret"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # an agent name usable as a checkpoint file name


def shown(agent: str) -> bool:
    """Whether an agent has a row: every agent of a family, the RefExp family's `REFEXP_AGENTS` only."""
    return R.method_family(agent) != "RefExp" or agent in REFEXP_AGENTS


def _order(r: dict) -> tuple:
    fam = R.method_family(r["agent"])
    within = REFEXP_AGENTS.index(r["agent"]) if r["agent"] in REFEXP_AGENTS else len(REFEXP_AGENTS)
    return R.METHOD_FAMILIES.index(fam), within, r["agent"]


def _read(results_dir: str | Path) -> list[dict]:
    """Every results file at the top level of `results_dir` (schema 2 and up), in file-name order."""
    out = []
    for p in sorted(Path(results_dir).glob("*.json")):
        res = json.loads(p.read_text())
        if not isinstance(res, dict) or "agent" not in res:
            raise ValueError(f"{p} is not a results file")
        if res.get("schema_version", 1) < 2:
            raise ValueError(f"{p}: results schema {res.get('schema_version', 1)}; the families table reads schema 2 and up")
        out.append(res)
    return out


def collect(results_dir: str | Path = DEFAULT_RESULTS) -> dict[tuple[str, int, str], list[dict]]:
    """(env id, K, obs type) -> the results dicts shown for it, grouped and ordered by method family; envs
    of `ENVS` only. Agents that observed the state get tables of their own, apart from the ranked pixel rows."""
    out: dict[tuple[str, int, str], list[dict]] = {}
    for res in _read(results_dir):
        if res["env_id"] in ENVS and shown(res["agent"]):
            out.setdefault((res["env_id"], int(res["episodes"]), res["obs_type"]), []).append(res)
    for (env, k, _), rows in out.items():
        rows.sort(key=_order)
        names = [r["agent"] for r in rows]
        if len(set(names)) != len(names):
            raise ValueError(f"two results files for one agent on {env}, K = {k}, one obs type: {names}")
    return out


def env_slug(env_id: str) -> str:
    """RefExp/TwoDrawer-v1 -> two-drawer-v1 (the shipped RefExp checkpoints' file names)."""
    return "".join("-" + c.lower() if c.isupper() else c for c in env_id.split("/")[-1]).lstrip("-")


def metadata_path(r: dict, seed: int, checkpoints: str | Path = DEFAULT_CHECKPOINTS) -> Path | None:
    """The shipped metadata of the agent of results dict `r` and training seed `seed` (None: a name
    that cannot be a file name)."""
    agent, env = r["agent"], r["env_id"]
    if not _SAFE_NAME.fullmatch(agent):
        return None
    root = Path(checkpoints)
    if R.method_family(agent) == "RefExp":
        return root / f"{env_slug(env)}-{agent}{f'-seed{seed}' if seed else ''}.json"
    return root / "families" / agent / f"{env.split('/')[-1].lower()}-seed{int(seed)}" / "config.json"


def training_seconds(meta: dict) -> float | None:
    """The training wall time a checkpoint's metadata records: its `train_wall_s` (a family's one-stage
    run), else its `TIMED_STAGES` summed (None: not all recorded)."""
    x = meta.get("train_wall_s")
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    total = 0.0
    for path in TIMED_STAGES:
        x = meta.get("stage_timing")
        for key in path:
            x = x.get(key) if isinstance(x, dict) else None
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            return None
        total += float(x)
    return total


def wall_time(r: dict, checkpoints: str | Path = DEFAULT_CHECKPOINTS) -> str:
    """"8 min (median of 5)": the median over training seeds of the recorded training wall times."""
    seeds = r["training_seeds"]
    times = []
    for s in seeds:
        p = metadata_path(r, s, checkpoints)
        if p is not None and p.is_file():
            t = training_seconds(json.loads(p.read_text()))
            if t is not None:
                times.append(t)
    if not times:
        return "not recorded"
    m = statistics.median(times) / 60
    text = f"{m:.0f}" if m >= 10 else f"{m:.1f}"
    missing = len(seeds) - len(times)
    return f"{text} min (median of {len(times)}{f'; {missing} not recorded' if missing else ''})"


def data_used(r: dict) -> str:
    """The dataset id with its size (tasks with episodes x episodes per task, from its registry entry), or the
    online steps the file records."""
    ds = r.get("dataset_id")
    if not ds:
        return md_cell(R.training_data(r))
    spec = REGISTRY.get(ds)
    if spec is None:
        return md_cell(ds)
    return f"{md_cell(ds)} ({len(spec.data_tasks)} x {spec.episodes_per_task} offline episodes)"  # Desk-v2: its train tasks


def _span(values) -> str:
    vals = sorted({str(v) for v in values})
    return ", ".join(vals)


def table(rows: list[dict], checkpoints: str | Path = DEFAULT_CHECKPOINTS, source: str = "refexp_baselines/results/") -> str:
    """A markdown table of one env and K (rows ordered by family), its caption and the families with no row."""
    env, k, obs = rows[0]["env_id"], rows[0]["episodes"], rows[0]["obs_type"]
    if any((r["env_id"], r["episodes"], r["obs_type"]) != (env, k, obs) for r in rows):
        raise ValueError("a families table holds one env, K and obs type: "
                         f"{sorted({(r['env_id'], r['episodes'], r['obs_type']) for r in rows})}")
    head = ("| method family | agent | training seeds | trials per seed (distinct rollouts) | "
            + " | ".join(f"episode {e + 1}" for e in range(k))
            + " | seeds at Bayes-optimal | exploration score | data used | training wall time here |")
    lines = [head, "|---|---|---|---|" + "---|" * (k + 4)]
    methods = set()
    for r in rows:
        seeds = r["training_seeds"]
        trials = r["trials_per_task"] * r["num_drawers"]
        distinct = sum(c["distinct"] for c in r["distinct_rollouts"]) / len(seeds)
        sm = stats.summarise(r["raw_successes"], r["raw_tasks"], r["num_drawers"], choices=num_choices(r))
        methods.add(sm.ci_method)
        cells = [interval(*v) for v in zip(sm.success_rate, sm.ci_low, sm.ci_high)]
        ex = "n/a" if sm.exploration_score is None else interval(sm.exploration_score, *sm.exploration_score_ci)
        name = md_cell(r["agent"]) + ("" if r["eligible"] else " (ineligible: sees the task)")
        lines.append(f"| {md_cell(R.method_family(r['agent']))} | {name} | {len(seeds)} ({','.join(map(str, seeds))}) | "
                     f"{trials} ({distinct:.0f}) | " + " | ".join(cells)
                     + f" | {sm.seeds_at_bayes_optimal} of {len(seeds)} | {ex} | {data_used(r)} | {wall_time(r, checkpoints)} |")
    m = num_choices(rows[0])
    lines.append("| Bayes-optimal | - | - | - | " + " | ".join(f"{b:.2f}" for b in stats.bayes_optimal_curve(k, m))
                 + " | - | 1 | - | - |")
    dates = sorted(r["date"][:10] for r in rows)
    seen = "" if obs == "pixels" else f", {obs} observations (not ranked)"
    lines += ["", f"*{env}, K = {k}{seen}: means over training seeds with 95% intervals, {'; '.join(sorted(methods))}, re-derived "
              f"from each file's raw successes; eval seed {_span(r['eval_seed'] for r in rows)}, secret id "
              f"{_span(r['secret_id'] for r in rows)}; scored {dates[0]}{'' if dates[0] == dates[-1] else ' to ' + dates[-1]}. "
              "Training wall time here: the stage times recorded in the shipped checkpoints' metadata, summed per training "
              f"seed (a stage shared by several agents counts in each), median over seeds. Generated by `{COMMAND}` from `{source}`.*"]
    have = {R.method_family(r["agent"]) for r in rows}
    missing = [f for f in META_RL_FAMILIES if f not in have]
    if missing and obs == "pixels":
        lines += ["", f"*No row yet: {', '.join(missing)}.*"]
    return "\n".join(lines) + "\n"


def block(results: dict[tuple[str, int], list[dict]], checkpoints: str | Path = DEFAULT_CHECKPOINTS,
          source: str = "refexp_baselines/results/") -> str:
    """Every env's tables, in the order of `ENVS` (an env without a results file says so)."""
    parts = []
    for env in ENVS:
        keys = sorted((k for k in results if k[0] == env), key=lambda k: (k[1], k[2] != "pixels", k[2]))
        if not keys:
            parts.append(f"### {env}\n\n*No results file on {env} yet.*\n")
        for key in keys:
            seen = "" if key[2] == "pixels" else f", {key[2]} observations (not ranked)"
            parts.append(f"### {env} (K = {key[1]}){seen}\n\n" + table(results[key], checkpoints, source))
    return "\n".join(parts)


def _key(r: dict) -> tuple:
    """What a re-score must repeat: agent, env, K, obs type, training seeds, trials per task."""
    return r["agent"], r["env_id"], int(r["episodes"]), r["obs_type"], tuple(r["training_seeds"]), r["trials_per_task"]


def _score(r: dict) -> tuple[float, float, float]:
    """The exploration score and its 95% interval, re-derived from the file's raw successes."""
    sm = stats.summarise(r["raw_successes"], r["raw_tasks"], r["num_drawers"], choices=num_choices(r))
    return (sm.exploration_score, *sm.exploration_score_ci)


def other_secret_table(results_dir: str | Path = DEFAULT_RESULTS) -> str:
    """A markdown table: each non-RefExp family's row on `ENVS` scored on the public secret, beside its
    re-score under another secret (`results_dir/OTHER_SECRET/`), and whether it holds."""
    public = [r for r in _read(results_dir) if r["env_id"] in ENVS and R.method_family(r["agent"]) != "RefExp"]
    folder = Path(results_dir) / OTHER_SECRET
    again = {_key(r): r for r in (_read(folder) if folder.is_dir() else [])}
    public.sort(key=lambda r: (ENVS.index(r["env_id"]), r["obs_type"] != "pixels", _order(r)))
    lines = ["| env | method family | agent | obs | training seeds | trials per seed | public secret: exploration score "
             "| other secret: exploration score | same agent version | holds |", "|---|---|---|---|---|---|---|---|---|---|"]
    held = done = 0
    for r in public:
        a = _score(r)
        o = again.get(_key(r))
        head = (f"| {r['env_id'].split('/')[-1]} | {md_cell(R.method_family(r['agent']))} | {md_cell(r['agent'])} | {r['obs_type']} | "
                f"{len(r['training_seeds'])} | {r['trials_per_task'] * r['num_drawers']} | {interval(*a)} |")
        if o is None:
            lines.append(head + " not re-scored yet | - | - |")
            continue
        b = _score(o)
        unversioned = r["agent_version"] == "unversioned"
        same = unversioned or r["agent_version"] == o["agent_version"]
        ok = same and verify.intervals_overlap(a[1:], b[1:])
        done += 1
        held += ok
        version = "not recorded in the public file" if unversioned else ("yes" if same else f"no ({md_cell(o['agent_version'])})")
        lines.append(head + f" {interval(*b)} | {version} | {'yes' if ok else '**no**'} |")
    ids = sorted({o["secret_id"] for o in again.values()})
    seeds = sorted({str(o["eval_seed"]) for o in again.values()})
    lines += ["", f"*{held} of {done} re-scored rows hold. Public secret id {_span(r['secret_id'] for r in public)}, eval seed "
              f"{_span(r['eval_seed'] for r in public)}; other secret id {', '.join(ids) or '-'} (private, drawn from the OS, never "
              f"committed), eval seed {', '.join(seeds) or '-'}; the same agent, env, K, training seeds and trials per task. A row holds "
              "when the two 95% intervals (Student-t over training seeds; one seed: bootstrap over its trials) overlap, the test of "
              "`python -m leaderboard verify`, and the agent version is the same. Not a signed verification (the maintainers' key "
              f"is not used). Rule: dev/LOG.md 47. Generated by `{COMMAND}` from `{_source(results_dir)}` and its `{OTHER_SECRET}/`.*"]
    return "\n".join(lines) + "\n"


def render(text: str, body: str, other: str | None = None) -> str:
    """`text` with what lies between its marker lines replaced by `body` (and the other-secret block by `other`)."""
    text = BLOCK.sub(lambda m: m.group(1) + body + m.group(3), text)
    if other is not None:
        text = OTHER_BLOCK.sub(lambda m: m.group(1) + other + m.group(3), text)
    return text


def _source(results_dir: str | Path) -> str:
    p = Path(results_dir).resolve()
    try:
        return f"{p.relative_to(ROOT)}/"
    except ValueError:
        return f"{p}/"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboard.families", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter,
                                epilog="Exit status: 0 done (or up to date), 1 --check found a stale document, 2 usage error.")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="folder of results files (its top level only)")
    p.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINTS),
                   help="folder of the shipped checkpoints whose metadata records the training wall time")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", nargs="+", metavar="DOC", help="documents whose families block to refresh")
    mode.add_argument("--check", nargs="+", metavar="DOC", help="documents to compare with what --write would make")
    a = p.parse_args(argv)
    stale = []
    try:
        if not Path(a.results).is_dir():
            raise ValueError(f"no results folder {a.results}")
        body = block(collect(a.results), a.checkpoints, _source(a.results))
        other = other_secret_table(a.results)
        for doc in a.write or a.check or []:
            old = Path(doc).read_text()
            if not BLOCK.search(old):
                raise ValueError(f"{doc} has no families block (a line <!-- families:table -->, then a line <!-- /families -->)")
            new = render(old, body, other)
            if a.write and new != old:
                Path(doc).write_text(new)
            if a.check and new != old:
                stale.append(doc)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        p.error(str(exc))
    if a.check:
        for doc in stale:
            print(f"stale: {doc} (run python -m leaderboard.families --write {' '.join(a.check)})", file=sys.stderr)
        return 1 if stale else 0
    if not a.write:
        print(body + "\n" + other, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
