"""One leaderboard row per accepted results file: the CSV format and how a row is derived.

A row is a pure function of its results file (kept under `submissions/`) and of its signed
verification record, if any (`verifications/`): `check` re-derives every row and compares, so
a hand edit of `results.csv` fails CI. Rows carry how much evidence they hold: seeds, trials per
seed, distinct rollouts, env version, family, method family, training data, verified or self-reported.

Two protocols live side by side and are never ranked against each other:
* `v0`: results schema 1 (tasks drawn from public seeds, so an agent could infer them; not
  balanced per seed). Their files are kept as submitted; their rows are re-summarised from the raw
  successes and tasks with the current statistics (`benchmark.stats.summarise`: per-seed
  task-balanced curves, intervals over seeds, the exploration score), which is all the raw data
  need. Shown in a section of their own, never verified.
* `v1`: results schemas 2 and 3 (tasks keyed by the evaluation secret, task-balanced trials,
  intervals over training seeds, the exploration score). The only rows that can be verified.

Every row's statistics are re-derived from its raw successes with the current statistics
(`benchmark.stats.summarise`: Student-t intervals over training seeds, the conditional success),
so rows of every schema are compared by one method. Within a protocol, env and K, rows are ranked
in two classes that never share a table: agents that see pixels only, and *privileged* agents that
were handed the handles' positions (`uses_layout`). A row of one training seed is listed, never
ranked: it has no interval over training runs.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Sequence

from refexp_envs import ENVS, SPLITS

# Per split of an env with held-out tasks (Desk-v2's train and test desks): the exploration score over that
# split's tasks and its Student-t interval over training seeds; empty cells for every other env.
SPLIT_COLUMNS = tuple(f"{s}_{c}" for s in SPLITS for c in ("score", "score_ci_low", "score_ci_high"))
COLUMNS = (
    "row_id", "protocol", "env_id", "env_version", "episodes", "agent", "agent_version", "agent_spec",
    "family", "method", "data", "score_name", "score", "score_ci_low", "score_ci_high", "success_rate", "ci_low",
    "ci_high", "bayes_optimal", "seeds_at_bayes_optimal", "seeds", "n_seeds", "trials_per_seed", "distinct_rollouts", "obs_type",
    "privileged", "conditional", "conditional_ci_low", "conditional_ci_high",
    *SPLIT_COLUMNS, "wall_time_s", "machine", "date", "results_sha256", "schema_version", "verification",
)
MIN_RANKED_SEEDS = 2  # a row of fewer training seeds has no interval over training runs: listed, never ranked
CLASSES = ("pixels", "privileged")  # ranked apart: never in one table
LIST_COLUMNS = ("success_rate", "ci_low", "ci_high", "bayes_optimal")
SCRIPTED_AGENTS = frozenset({"random", "always-first", "scripted-explorer"})
FAMILIES = ("scripted", "offline", "online", "oracle")
# The method family of an agent, by its name: the first pattern (on the lower-cased name) that matches.
METHOD_PATTERNS = (
    ("scripted", r"(random|always-first)$|scripted-"),
    ("RefExp", r"(ours|no-expl|no-cql)(-|$)"),  # the paper's method and its ablations and variants
    ("RL^2", r"rl2"),
    ("DPT", r"dpt"),
    ("BOReL", r"borel"),
    ("PEARL", r"pearl"),
    ("offline RL", r"offline-|(iql|cql)(-|$)"),  # no task inference
)
METHOD_FAMILIES = tuple(m for m, _ in METHOD_PATTERNS) + ("other",)
SELF_REPORTED = "self-reported"
STATUSES = (SELF_REPORTED, "verified", "disagrees", "failed-verification")
PROTOCOL_OF_SCHEMA = {1: "v0", 2: "v1", 3: "v1"}
V0_HARNESS_COMMIT = "1f6ea3a"  # the last commit whose harness wrote schema 1 (reproduces v0 rows)
# The paper's env first; others follow in alphabetical order.


def row_id(sha256: str) -> str:
    """A row's short id: the first 16 hex digits of its results file's SHA-256 (its file name)."""
    return sha256[:16]


def env_version(env_id: str) -> str:
    m = re.search(r"-(v\d+)$", env_id)
    return m.group(1) if m else "?"


def family(data: dict) -> str:
    """scripted / offline / online / oracle, from what the results file says about the agent."""
    if not data.get("eligible", True):
        return "oracle"
    if data["agent"] in SCRIPTED_AGENTS and data.get("agent_spec", data["agent"]) == data["agent"]:
        return "scripted"
    return "offline" if data.get("dataset_id") else "online"


def method_family(agent: str) -> str:
    """RefExp, scripted, RL^2, DPT, BOReL, PEARL, offline RL or other, from an agent's name."""
    name = agent.lower()
    return next((m for m, pattern in METHOD_PATTERNS if re.match(pattern, name)), "other")


def training_data(data: dict) -> str:
    """What the agent was trained on: the dataset id, online steps where recorded, or none."""
    if data.get("dataset_id"):
        return data["dataset_id"]
    steps = data.get("online_steps")
    if family(data) == "scripted":
        return "none"
    return f"online, {steps} steps" if steps else "online (steps not reported)"


def _fmt(x: float) -> str:
    return repr(float(x))


def _joined(xs: Sequence[float]) -> str:
    return ";".join(_fmt(x) for x in xs)


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(";")] if text else []


def row_from_results(data: dict, sha256: str, verification: str = SELF_REPORTED) -> dict[str, str]:
    """The CSV row of a validated results dict of either schema version."""
    version = data["schema_version"]
    if version not in PROTOCOL_OF_SCHEMA:
        raise ValueError(f"schema_version {version} is not one the leaderboard reads: {sorted(PROTOCOL_OF_SCHEMA)}")
    machine = data["machine"]
    seeds = data.get("training_seeds", data.get("seeds"))
    row = {
        "row_id": row_id(sha256),
        "protocol": PROTOCOL_OF_SCHEMA[version],
        "env_id": data["env_id"],
        "env_version": env_version(data["env_id"]),
        "episodes": str(data["episodes"]),
        "agent": data["agent"],
        "agent_version": data["agent_version"],
        "agent_spec": data["agent_spec"],
        "family": family(data),
        "method": method_family(data["agent"]),
        "data": training_data(data),
        "seeds": " ".join(str(s) for s in seeds),
        "n_seeds": str(len(seeds)),
        "obs_type": data["obs_type"],
        "privileged": privileged(data),
        "wall_time_s": _fmt(data["wall_time_s"]),
        "machine": f"{machine.get('cpu', '?')} x{machine.get('cpu_count', '?')}",
        "date": data["date"],
        "results_sha256": sha256,
        "schema_version": str(version),
        "verification": verification,
    }
    row.update(_scores(summary_of(data)))
    row.update(split_scores(data))
    if version == 1:
        row.update({"trials_per_seed": str(data["trials"]), "distinct_rollouts": ""})  # schema 1 records no actions
    else:
        row.update({"trials_per_seed": str(data["num_drawers"] * data["trials_per_task"]),
                    "distinct_rollouts": str(sum(c["distinct"] for c in data["distinct_rollouts"]))})
    return row


def privileged(data: dict) -> str:
    """What privileged channel the agent used: "layout" (the handles' positions), or "" (pixels only).
    (Agents that see the task are never on the board.)"""
    from benchmark.schema import uses_layout

    return "layout" if uses_layout(data) else ""


def rank_class(row: dict[str, str]) -> str:
    return "privileged" if row["privileged"] else "pixels"


def summary_of(data: dict) -> dict:
    """The statistics of a results file of any schema, re-derived from its raw successes and tasks."""
    from benchmark import stats
    from benchmark.schema import num_choices

    sm = stats.summarise(data["raw_successes"], data["raw_tasks"], data["num_drawers"], choices=num_choices(data))
    return {"success_rate": sm.success_rate, "ci_low": sm.ci_low, "ci_high": sm.ci_high,
            "bayes_optimal": sm.bayes_optimal, "exploration_score": sm.exploration_score,
            "exploration_score_ci": sm.exploration_score_ci, "auc": sm.auc, "auc_ci": sm.auc_ci,
            "seed_curves": sm.seed_curves, "seeds_at_bayes_optimal": sm.seeds_at_bayes_optimal,
            "conditional_success": sm.conditional_success, "conditional_success_ci": sm.conditional_success_ci}


def split_scores(data: dict) -> dict[str, str]:
    """The SPLIT_COLUMNS of a results file, re-derived from its raw successes (`stats.split_summaries`, as
    the harness computes its `splits`): filled for an env with held-out tasks and K >= 2, else empty.
    With one training seed there is no interval: low = high = the score."""
    from benchmark import stats
    from benchmark.schema import num_choices

    out = {c: "" for c in SPLIT_COLUMNS}
    entry = ENVS.get(data["env_id"])
    if entry is None or not entry.has_split:
        return out
    splits = stats.split_summaries(data["raw_successes"], data["raw_tasks"], data["num_drawers"], num_choices(data),
                                   {s: entry.tasks_of(s) for s in SPLITS})
    for name, sp in splits.items():
        scores = sp["seed_exploration_scores"]
        if scores is None:
            continue
        score, lo, hi = stats.seed_interval(scores)
        out.update({f"{name}_score": _fmt(score), f"{name}_score_ci_low": _fmt(score if lo is None else lo),
                    f"{name}_score_ci_high": _fmt(score if hi is None else hi)})
    return out


def split_cell(row: dict[str, str], split: str) -> tuple[float, float, float] | None:
    """(score, low, high) of one split of a row, or None where the row has no split."""
    if not row.get(f"{split}_score"):
        return None
    return tuple(float(row[f"{split}_score{c}"]) for c in ("", "_ci_low", "_ci_high"))


def _scores(summary: dict) -> dict[str, str]:
    """The exploration score and its interval over seeds (the area under the curve where K = 1,
    for which the exploration score is not defined), the curve and seeds at Bayes-optimal."""
    if summary["exploration_score"] is not None:
        name, score, ci = "exploration", summary["exploration_score"], summary["exploration_score_ci"]
    else:
        name, score, ci = "auc", summary["auc"], summary["auc_ci"]
    return {
        "score_name": name,
        "score": _fmt(score),
        "score_ci_low": _fmt(ci[0]),
        "score_ci_high": _fmt(ci[1]),
        **{c: _joined(summary[c]) for c in LIST_COLUMNS},
        "seeds_at_bayes_optimal": str(summary["seeds_at_bayes_optimal"]),
        "conditional": "" if summary["conditional_success"] is None else _fmt(summary["conditional_success"]),
        "conditional_ci_low": "" if summary["conditional_success_ci"] is None else _fmt(summary["conditional_success_ci"][0]),
        "conditional_ci_high": "" if summary["conditional_success_ci"] is None else _fmt(summary["conditional_success_ci"][1]),
    }


# ------------------------------------------------------------------------------------------ CSV
def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is not None and tuple(reader.fieldnames) != COLUMNS:
            raise ValueError(f"{path} has columns {reader.fieldnames}, expected {list(COLUMNS)}: an earlier layout "
                             "is re-derived from the kept files by `python -m leaderboard rebuild`")
        return list(reader)


def rows_to_csv(rows: Sequence[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row[c] for c in COLUMNS})
    return buf.getvalue()


# -------------------------------------------------------------------------------------- ranking
def ranked(row: dict[str, str]) -> bool:
    """Whether a row takes a rank: two or more training seeds (an interval over training runs)."""
    return int(row["n_seeds"]) >= MIN_RANKED_SEEDS


def ranks(rows: Sequence[dict[str, str]]) -> list[int]:
    """rank = 1 + the number of ranked rows whose interval's lower bound exceeds this row's upper
    bound; 0 for a row that is not ranked (one training seed).

    Rows whose intervals cannot be told apart share a rank, and one row whose interval separates
    from several makes the next rank jump; ranks are computed within `rows` only (one env, K,
    protocol and class: never across them)."""
    lows = [float(r["score_ci_low"]) for r in rows if ranked(r)]
    return [1 + sum(lo > float(r["score_ci_high"]) for lo in lows) if ranked(r) else 0 for r in rows]


def env_sort_key(env_id: str) -> tuple[int, str]:
    """Sections in `refexp_envs.ENVS` order: the default (newest) paper env first, older versions last."""
    order = list(ENVS)
    return (order.index(env_id) if env_id in order else len(order), env_id)


def groups(rows: Sequence[dict[str, str]]) -> list[tuple[str, str, int, str, list[tuple[int, dict[str, str]]]]]:
    """(protocol, env, K, class, [(rank, row)] best first, unranked rows last) with protocol v1 first,
    the paper's env first, pixel-only agents before privileged ones."""
    def key(r):
        return (r["protocol"], r["env_id"], int(r["episodes"]), rank_class(r))

    keys = sorted({key(r) for r in rows},
                  key=lambda k: (-int(k[0][1:]), env_sort_key(k[1]), k[2], CLASSES.index(k[3])))
    out = []
    for proto, env, k, cls in keys:
        mine = [r for r in rows if key(r) == (proto, env, k, cls)]
        order = sorted(zip(ranks(mine), mine), key=lambda t: (t[0] == 0, t[0], -float(t[1]["score"]), t[1]["agent"]))
        out.append((proto, env, k, cls, order))
    return out


DUPLICATE_ROLLOUT_SHARE = 0.95  # two names whose rollouts share this much are one agent under two names


def rollout_share(a: dict, b: dict) -> float | None:
    """The share of trials two results files of one env have in common, trial by trial: the fraction
    of (training seed, trial) positions, over the seeds both scored, whose action digests are equal
    (None: schema 1, no digests, or other trials: another K, eval seed, secret or trials per task)."""
    if a["schema_version"] == 1 or b["schema_version"] == 1:
        return None
    same_trials = all(a[f] == b[f] for f in ("env_id", "episodes", "eval_seed", "secret_id", "trials_per_task"))
    common = [s for s in a["training_seeds"] if s in b["training_seeds"]]
    if not same_trials or not common:
        return None
    ia, ib = {s: i for i, s in enumerate(a["training_seeds"])}, {s: i for i, s in enumerate(b["training_seeds"])}
    pairs = [(x, y) for s in common for x, y in zip(a["raw_rollouts"][ia[s]], b["raw_rollouts"][ib[s]])]
    return sum(x == y for x, y in pairs) / len(pairs)


def twin_problem(data: dict, others: Sequence[tuple[dict[str, str], dict]]) -> str | None:
    """Why a results file is one already on the board under another name (rollout digests shared at
    `DUPLICATE_ROLLOUT_SHARE` or more with a row of another agent on the same env), or None."""
    for row, other in others:
        if other["agent"] == data["agent"] or other["env_id"] != data["env_id"]:
            continue
        share = rollout_share(data, other)
        if share is not None and share >= DUPLICATE_ROLLOUT_SHARE:
            return (f"{data['agent']} and {other['agent']} (row {row['row_id']}) share {share:.0%} of their rollouts "
                    f"on {data['env_id']}: one agent under two names (the board keeps one name per agent; withdraw "
                    "one, or give it its own weights)")
    return None


def same_agent_version(a: dict[str, str], b: dict[str, str]) -> bool:
    """Two rows of one agent version on one env, K and protocol: names equal, and the versions
    share a checkpoint (a version scored over several seeds names each seed's checkpoint, 'a/b/c';
    a run of seed 0 alone, 'a', is the same agent version)."""
    if (a["agent"], a["env_id"], a["episodes"], a["protocol"]) != (b["agent"], b["env_id"], b["episodes"], b["protocol"]):
        return False
    return bool(set(a["agent_version"].split("/")) & set(b["agent_version"].split("/")))


# --------------------------------------------------------------------------- per-seed, reproduce
def per_seed_curves(data: dict) -> list[tuple[int, list[float]]]:
    """(training seed, its task-balanced success rate per episode) for each seed of a results file."""
    if data["schema_version"] == 1:
        return list(zip(data["seeds"], summary_of(data)["seed_curves"]))
    return [(int(s), [float(x) for x in c]) for s, c in zip(data["training_seeds"], data["seed_curves"])]


def reproduce_command(data: dict) -> list[str]:
    """The harness command that re-scores a results file's agent with the file's settings."""
    cmd = ["python", "-m", "benchmark.run", "--agent", data["agent_spec"], "--env", data["env_id"],
           "--episodes", str(data["episodes"])]
    if data["schema_version"] == 1:
        cmd += ["--trials", str(data["trials"]), "--seeds", *[str(s) for s in data["seeds"]]]
    else:
        cmd += _v1_command_args(data)
    if data.get("dataset_id"):
        cmd += ["--dataset", data["dataset_id"]]
    if data["obs_type"] != "pixels":
        cmd += ["--obs-type", data["obs_type"]]
    return cmd


def _v1_command_args(data: dict) -> list[str]:
    return ["--trials-per-task", str(data["trials_per_task"]), "--seeds", *[str(s) for s in data["training_seeds"]],
            *eval_seed_args(data["eval_seed"])]


def eval_seed_args(eval_seed: int) -> list[str]:
    """The harness flags that set a re-run's evaluation seed."""
    return ["--eval-seed", str(int(eval_seed))]


def without_eval_seed(args: list[str]) -> list[str]:
    """Harness arguments with any `--eval-seed N` removed."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--eval-seed":
            skip = True
        else:
            out.append(a)
    return out


def seed_setting(data: dict) -> tuple:
    """What a re-run must keep equal: the training seeds and the trials."""
    if data["schema_version"] == 1:
        return (tuple(data["seeds"]), data["trials"])
    return (tuple(data["training_seeds"]), data["trials_per_task"])
