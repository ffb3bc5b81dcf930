"""The method's result tables and figures, generated from the results files of its shipped agents.

    python -m refexp_baselines.report                                  # print every env's table
    python -m refexp_baselines.report --write README.md docs/results.md docs/method.md   # refresh tables + figures
    python -m refexp_baselines.report --check README.md docs/results.md docs/method.md   # exit 1 where one is stale

Reads every harness results file (schema 2) under `--results` (default `refexp_baselines/results/`:
one file per agent and env, over all its training seeds) and formats, per env, a markdown table of
the statistics re-derived from each file's raw successes with `benchmark.stats` (means over training
seeds, Student-t 95% intervals over seeds, seeds at the Bayes-optimal curve, exploration score,
success after a failure; so files of results schema 2 and 3 read alike), the maintainers' notes
(`leaderboard/notes.json`)
and a `benchmark.plot` figure. A document takes a table where it holds the two marker lines

    <!-- report:table RefExp/TwoDrawer-v1 -->
    <!-- /report -->

and `--write` replaces what lies between them (and redraws `docs/img/method_<env>.png`), so the
numbers in README.md, docs/results.md and docs/method.md are never typed by hand. A
`<!-- report:headline -->` block takes one table over every env: each agent's exploration score
(README.md's headline; the full tables are in docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import refexp_envs
from benchmark.schema import num_choices
from benchmark.text import interval as _interval
from benchmark.text import md_cell
from refexp_envs.helpformat import DefaultsHelpFormatter

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "refexp_baselines" / "results"
# The maintainers' one-line notes (renames, re-ships after a public number, envs used for development):
# one file, read as data, shown under these tables and the leaderboard's
NOTES = ROOT / "leaderboard" / "notes.json"
PENDING = "*No results file of this env yet: its runs, and the rule they follow, are in dev/LOG.md.*\n"
FIGURE_DIR = Path("docs/img")  # relative to ROOT
BLOCK = re.compile(r"(<!-- report:(?:table (?P<env>\S+)|(?P<headline>headline)) -->\n)(?P<body>.*?)(<!-- /report -->)", re.S)


def collect(results_dir: str | Path = DEFAULT_RESULTS) -> dict[str, list[dict]]:
    """env id -> its results dicts (schema 2), in the order of `configs.AGENT_NAMES`, then by name."""
    from refexp_baselines import configs as C

    out: dict[str, list[dict]] = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        res = json.loads(p.read_text())
        if res.get("schema_version", 1) < 2:
            raise ValueError(f"{p}: results schema {res.get('schema_version', 1)}; the report reads schema 2")
        res["_path"] = str(p)
        out.setdefault(res["env_id"], []).append(res)
    order = {name: i for i, name in enumerate(C.AGENT_NAMES)}
    for rows in out.values():
        rows.sort(key=lambda r: (order.get(r["agent"], len(order)), r["agent"]))
        names = [r["agent"] for r in rows]
        if len(set(names)) != len(names):
            raise ValueError(f"two results files for one agent on {rows[0]['env_id']}: {names}")
    return out


def notes_for(rows: list[dict], notes_path: Path = NOTES) -> list[str]:
    """The notes on an env's table: the env's own, then each agent's (in table order)."""
    if not rows or not notes_path.is_file():
        return []
    notes = json.loads(notes_path.read_text())
    env = rows[0]["env_id"]
    out = [notes["envs"][env]] if env in notes["envs"] else []
    for r in rows:
        out += [f"{r['agent']}: {n['text']}" for n in notes["rows"]
                if n["agent"] == r["agent"] and n["env_id"] in (None, env)]
    return out


def _seed_interval(scores) -> str:
    """Mean [95% Student-t interval over training seeds] of per-seed scores (no interval with one seed)."""
    from benchmark import stats

    if scores is None:
        return "n/a"
    mean, lo, hi = stats.seed_interval(scores)
    return f"{mean:.2f} (one seed)" if lo is None else _interval(mean, lo, hi)


def table(rows: list[dict]) -> str:
    """A markdown table of one env's results (every row must share K, N, the eval seed and the secret),
    followed by a one-line caption saying what stands behind the numbers."""
    from benchmark import stats

    shapes = {(r["episodes"], r["num_drawers"], r["eval_seed"], r["secret_id"]) for r in rows}
    if len(shapes) != 1:
        raise ValueError(f"results of {rows[0]['env_id']} differ in (K, N, eval seed, secret id): {sorted(shapes)}")
    k, n = rows[0]["episodes"], rows[0]["num_drawers"]
    entry = refexp_envs.ENVS.get(rows[0]["env_id"])
    splits = {s: entry.tasks_of(s) for s in refexp_envs.SPLITS} if entry is not None and entry.has_split else {}
    head = ("| agent | training seeds | trials per seed (distinct rollouts) | "
            + " | ".join(f"episode {e + 1}" for e in range(k))
            + " | seeds at Bayes-optimal | exploration score | success after a failure |"
            + "".join(f" exploration score, {s} tasks ({len(t)}) |" for s, t in splits.items()))
    lines = [head, "|---|---|---|" + "---|" * (k + 3 + len(splits))]
    methods = set()
    for r in rows:
        seeds = r["training_seeds"]
        trials = r["trials_per_task"] * r["num_drawers"]
        distinct = sum(c["distinct"] for c in r["distinct_rollouts"]) / len(seeds)
        sm = stats.summarise(r["raw_successes"], r["raw_tasks"], n, choices=num_choices(r))  # one interval method for every file's schema
        methods.add(sm.ci_method)
        cells = [_interval(*v) for v in zip(sm.success_rate, sm.ci_low, sm.ci_high)]
        ex = "n/a" if sm.exploration_score is None else _interval(sm.exploration_score, *sm.exploration_score_ci)
        cond = "n/a" if sm.conditional_success is None else _interval(sm.conditional_success, *sm.conditional_success_ci)
        name = (md_cell(r["agent"]) + ("" if r["eligible"] else " (ineligible: sees the task)")
                + ("" if r.get("obs_type", "pixels") == "pixels" else f" ({md_cell(r['obs_type'])} observations: not ranked)"))
        by_split = stats.split_summaries(r["raw_successes"], r["raw_tasks"], n, num_choices(r), splits) if splits else {}
        lines.append(f"| {name} | {len(seeds)} ({','.join(map(str, seeds))}) | {trials} ({distinct:.0f}) | "
                     + " | ".join(cells) + f" | {sm.seeds_at_bayes_optimal} of {len(seeds)} | {ex} | {cond} |"
                     + "".join(f" {_seed_interval(sp['seed_exploration_scores'])} |" for sp in by_split.values()))
    m = num_choices(rows[0])  # M: the Bayes-optimal curve is min(1, k/M) (Desk-v2: 4 of its 64 tasks)
    best = stats.conditional_bayes_optimal(k, m)
    lines.append("| Bayes-optimal | - | - | " + " | ".join(f"{b:.2f}" for b in stats.bayes_optimal_curve(k, m))
                 + f" | | 1 | {'n/a' if best is None else f'{best:.2f}'} |" + " 1 |" * len(splits))
    dates = sorted(r["date"][:10] for r in rows)
    cpus = sorted({f"{r['machine'].get('cpu', '?')} x{r['machine'].get('cpu_count', '?')}" for r in rows})
    lines += ["", f"*{rows[0]['env_id']}, K = {k}: means over training seeds, 95% intervals ({'; '.join(sorted(methods))}, "
              f"re-derived from each file's raw successes); eval seed {rows[0]['eval_seed']}, secret id {rows[0]['secret_id']}; scored "
              f"{dates[0]}{'' if dates[0] == dates[-1] else ' to ' + dates[-1]} on {', '.join(cpus)}. Generated by "
              f"`python -m refexp_baselines.report --write README.md docs/results.md docs/method.md` from "
              f"`refexp_baselines/results/`; figure: `{figure_path(rows[0]['env_id'])}`.*"]
    lines += [f"\n*Note: {n}*" for n in notes_for(rows)]
    return "\n".join(lines) + "\n"


# The README's headline rows: the paper's method, its Figure-2 ablations, the one-step agent, its
# exploration ablation, the shift agent and one agent of each other family scored so far; every other row is in
# docs/results.md (the families side by side: docs/baselines.md)
HEADLINE_AGENTS = ("ours", "no-expl", "no-cql", "ours-onestep", "ours-onestep-no-expl", "ours-onestep-randtex", "pearl",
                   "borel", "dpt", "offline-iql")


def headline(results: dict[str, list[dict]], notes_path: Path = NOTES) -> str:
    """One markdown table over every env: a row per headline agent (`HEADLINE_AGENTS`), its exploration
    score [95% interval] on each env it was scored on, and a caption saying what stands behind the
    numbers; an env the maintainers' notes say was used for development is marked so."""
    from benchmark import stats
    from refexp_baselines import configs as C

    if not results:
        return PENDING
    envs = sorted(results, key=lambda e: ("Shift" in e, num_choices(results[e][0]), e))  # shifts last, then by M
    order = {name: i for i, name in enumerate(C.AGENT_NAMES)}
    agents = sorted({r["agent"] for rows in results.values() for r in rows if r["agent"] in HEADLINE_AGENTS},
                    key=lambda a: (order.get(a, len(order)), a))
    cell = {(r["agent"], env): r for env, rows in results.items() for r in rows}
    dev_envs = json.loads(Path(notes_path).read_text()).get("envs", {}) if Path(notes_path).is_file() else {}
    lines = ["| agent | " + " | ".join(f"{e.split('/')[-1]} (K = {results[e][0]['episodes']}"
                                      + ("; used for development: validation" if e in dev_envs else "") + ")"
                                      for e in envs) + " |",
             "|---|" + "---|" * len(envs)]
    methods = set()
    for a in agents:
        cells = []
        for env in envs:
            r = cell.get((a, env))
            sm = None if r is None else stats.summarise(r["raw_successes"], r["raw_tasks"], r["num_drawers"], choices=num_choices(r))
            if sm is None or sm.exploration_score is None:
                cells.append("")
            else:  # re-derived from the raw successes with the tables' one interval method
                methods.add(sm.ci_method)
                cells.append(_interval(sm.exploration_score, *sm.exploration_score_ci))
        eligible = all(r["eligible"] for (name, _), r in cell.items() if name == a)
        lines.append(f"| {md_cell(a)}{'' if eligible else ' (ineligible: sees the task)'} | " + " | ".join(cells) + " |")
    shown = [r for (a, env), r in cell.items() if a in agents and env in envs]  # the caption speaks of these
    seeds = sorted({len(r["training_seeds"]) for r in shown})
    trials = sorted({r["trials_per_task"] * r["num_drawers"] for r in shown})
    secrets = sorted({r["secret_id"] for r in shown})
    dates = sorted(r["date"][:10] for r in shown)
    lines += ["", f"*Exploration score (0 = the best agent that never adapts, 1 = Bayes-optimal): mean over "
              f"{'/'.join(map(str, seeds))} training seeds, each scored on {'/'.join(map(str, trials))} trials, 95% "
              f"interval ({'; '.join(sorted(methods))}); secret id {', '.join(secrets)}; scored "
              f"{dates[0]}{'' if dates[0] == dates[-1] else ' to ' + dates[-1]}; blank: not scored there. Per-episode success, seeds at the "
              "Bayes-optimal curve and figures: [docs/results.md](docs/results.md). Generated by `python -m "
              "refexp_baselines.report --write README.md docs/results.md docs/method.md` from "
              "`refexp_baselines/results/`.*"]
    return "\n".join(lines) + "\n"


def figure_path(env_id: str) -> Path:
    return FIGURE_DIR / f"method_{env_id.split('/')[-1].lower()}.png"


def same_outcomes(a: dict, b: dict) -> bool:
    """Whether two results files hold the same trials with the same outcomes (e.g. `ours` and `no-cql`
    since they share a config): one curve would hide the other exactly."""
    keys = ("training_seeds", "eval_seed", "secret_id", "raw_tasks", "raw_successes")
    return all(a.get(k) == b.get(k) for k in keys)


def plot(rows: list[dict], out: str | Path) -> Path:
    """One curve per agent; agents with trial-for-trial identical outcomes share one, labelled 'a = b'."""
    from benchmark.plot import curve_from_results, plot_curves

    groups: list[list[dict]] = []
    for r in rows:
        same = next((g for g in groups if same_outcomes(g[0], r)), None)
        same.append(r) if same is not None else groups.append([r])
    labels = [f"{' = '.join(r['agent'] for r in g)} ({len(g[0]['training_seeds'])} seeds)" for g in groups]
    curves = [curve_from_results(_rederived(g[0]), label) for g, label in zip(groups, labels)]
    curves += [c for split in refexp_envs.SPLITS for g, label in zip(groups, labels) for c in _split_curves(g[0], split, label)]
    return plot_curves(curves, out, "success per exploration episode, 95% Student-t intervals over training seeds")


def _split_curves(r: dict, split: str, label: str) -> list:
    """The curve over one split's tasks (a panel of its own) for an env with held-out tasks; [] elsewhere."""
    from dataclasses import replace

    from benchmark import stats
    from benchmark.plot import curve_from_results

    entry = refexp_envs.ENVS.get(r["env_id"])
    if entry is None or not entry.has_split:
        return []
    tasks = entry.tasks_of(split)
    sp = stats.split_summaries(r["raw_successes"], r["raw_tasks"], r["num_drawers"], num_choices(r), {split: tasks})[split]
    if sp["ci_low"] is None:  # one seed: no interval
        sp = {**sp, "ci_low": sp["success_rate"], "ci_high": sp["success_rate"]}
    curve = curve_from_results({**r, **{k: sp[k] for k in ("success_rate", "ci_low", "ci_high")}}, label)
    return [replace(curve, env_id=f"{r['env_id']}: {split} tasks ({len(tasks)})")]


def _rederived(r: dict) -> dict:
    """A results dict with its curve and intervals re-derived by the current statistics (as the table's)."""
    from benchmark import stats

    sm = stats.summarise(r["raw_successes"], r["raw_tasks"], r["num_drawers"], choices=num_choices(r))
    return {**r, "success_rate": sm.success_rate, "ci_low": sm.ci_low, "ci_high": sm.ci_high}


def render(text: str, results: dict[str, list[dict]], source: str = "") -> str:
    """`text` with every report block replaced by its env's table."""
    def sub(m: re.Match) -> str:
        if m.group("headline"):
            return m.group(1) + headline(results) + m.group(5)
        env = m.group("env")
        if env not in results:
            return m.group(1) + PENDING + m.group(5)  # a table waits for its re-scored files
        return m.group(1) + table(results[env]) + m.group(5)

    return BLOCK.sub(sub, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m refexp_baselines.report", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter,
                                epilog="Exit status: 0 done (or up to date), 1 --check found a stale document, 2 usage error.")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="folder of results files (schema 2)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", nargs="+", metavar="DOC", help="documents whose report blocks to refresh (and redraw figures)")
    mode.add_argument("--check", nargs="+", metavar="DOC", help="documents to compare with what --write would make")
    a = p.parse_args(argv)
    try:
        results = collect(a.results)
        docs = a.write or a.check or []
        stale = []
        for doc in docs:
            old = Path(doc).read_text()
            new = render(old, results, doc)
            if not BLOCK.search(old):
                raise ValueError(f"{doc} has no report block (<!-- report:table ENV --> or <!-- report:headline -->, "
                                 "then <!-- /report -->)")
            if a.write and new != old:
                Path(doc).write_text(new)
            if a.check and new != old:
                stale.append(doc)
    except (ValueError, OSError, KeyError) as exc:
        p.error(str(exc))
    if a.check:
        for doc in stale:
            print(f"stale: {doc} (run python -m refexp_baselines.report --write {' '.join(a.check)})", file=sys.stderr)
        return 1 if stale else 0
    for env, rows in results.items():
        if a.write:
            print(f"figure: {plot(rows, ROOT / figure_path(env))}")
        else:
            print(f"## {env}\n\n{table(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
