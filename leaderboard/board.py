"""The public leaderboard (`python -m leaderboard`): submit a results file, or rebuild the pages.

    python -m leaderboard submit results/scripted-explorer_twodrawer-v0_K3_n100_s0-1-2.json
    python -m leaderboard render

`submit` validates the file (schema 2 and internal consistency, at least 100 trials, a known env and
dataset, pixel observations, an eligible agent, no duplicate row), then adds a row to
`results.csv`, keeps a copy of the file under `submissions/`, and regenerates `README.md` (one
markdown table per env and K, ranked by exploration score, with 95% intervals over training
seeds), `index.html` and the plots under `plots/`. A rejected submission prints the reason, exits 1,
and changes no file. Every file is written to a temporary name and renamed into place only after
all of them were produced. `render` rebuilds the pages from the CSV alone (the same CSV gives the
same bytes); a CSV of the schema-1 era is first rebuilt from its kept submission files, whose rows
are re-summarised with the current statistics (`benchmark.stats`) and marked as schema 1.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark import stats
from benchmark.protocol import PUBLIC_SECRET, secret_id
from benchmark.schema import (
    MIN_TRIALS,
    IneligibleError,
    SchemaError,
    check_eligible,
    total_trials,
    validate_results,
)

LEADERBOARD_DIR = Path(__file__).resolve().parent
COLUMNS = (
    "env_id", "episodes", "agent", "agent_version", "exploration_score", "score_ci_low", "score_ci_high", "auc",
    "success_rate", "ci_low", "ci_high", "seeds_at_bayes_optimal", "bayes_optimal", "dataset_id", "obs_type",
    "trials_per_task", "seeds", "total_trials", "distinct_rollouts", "secret_id", "wall_time_s", "workers",
    "machine", "date", "results_sha256", "schema_version",
)
# The CSV of the schema-1 era (rebuilt from the kept submission files on first read).
COLUMNS_V1 = (
    "env_id", "episodes", "agent", "agent_version", "normalised_score", "score_ci_low", "score_ci_high",
    "success_rate", "ci_low", "ci_high", "bayes_optimal", "dataset_id", "obs_type", "trials", "seeds",
    "total_trials", "wall_time_s", "workers", "machine", "date", "results_sha256", "schema_version",
)
PUBLIC_SECRET_ID = secret_id(PUBLIC_SECRET)
LIST_COLUMNS = ("success_rate", "ci_low", "ci_high", "bayes_optimal")


class Rejected(Exception):
    """A submission the leaderboard refuses; the message is the reason shown to the submitter."""


@dataclass(frozen=True)
class Paths:
    """The leaderboard's files under one directory (the package's own by default)."""

    root: Path

    @property
    def csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    @property
    def html(self) -> Path:
        return self.root / "index.html"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"


# ------------------------------------------------------------------------------------------ CSV
def read_rows(path: Path, submissions: Path | None = None) -> list[dict[str, str]]:
    """The CSV's rows; a schema-1-era CSV is rebuilt row by row from `submissions/<sha16>.json`."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = tuple(reader.fieldnames or ())
    if not fields or fields == COLUMNS:
        return rows
    if fields == COLUMNS_V1:
        submissions = submissions or path.parent / "submissions"
        out = []
        for row in rows:
            kept = submissions / f"{row['results_sha256'][:16]}.json"
            if not kept.is_file():
                raise ValueError(f"{path} is a schema-1 CSV and the kept file of its row {row['agent']} "
                                 f"{row['agent_version']} ({kept}) is missing: cannot rebuild it")
            raw = kept.read_bytes()
            data = json.loads(raw)
            validate_results(data)
            out.append(row_from_results(data, hashlib.sha256(raw).hexdigest()))
        return out
    raise ValueError(f"{path} has columns {list(fields)}, expected {list(COLUMNS)}")


def rows_to_csv(rows: Sequence[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row[c] for c in COLUMNS})
    return buf.getvalue()


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(";")] if text else []


def _num(x) -> str:
    return "" if x is None else repr(float(x))


def row_from_results(data: dict, sha256: str) -> dict[str, str]:
    """The CSV row of a validated results dict of either schema version (schema 1 re-summarised
    from its raw data with the current statistics)."""
    machine = data["machine"]
    if data["schema_version"] == 1:
        s = stats.summarise(data["raw_successes"], data["raw_tasks"], data["num_drawers"])
        summary = {"success_rate": s.success_rate, "ci_low": s.ci_low, "ci_high": s.ci_high,
                   "exploration_score": s.exploration_score, "exploration_score_ci": s.exploration_score_ci,
                   "auc": s.auc, "seeds_at_bayes_optimal": s.seeds_at_bayes_optimal, "bayes_optimal": s.bayes_optimal}
        seeds, tpt, distinct, sid = data["seeds"], "", "", ""
    else:
        summary = data
        seeds, tpt, sid = data["training_seeds"], str(data["trials_per_task"]), data["secret_id"]
        distinct = str(sum(c["distinct"] for c in data["distinct_rollouts"]))
    ci = summary["exploration_score_ci"] or (None, None)
    return {
        "env_id": data["env_id"],
        "episodes": str(data["episodes"]),
        "agent": data["agent"],
        "agent_version": data["agent_version"],
        "exploration_score": _num(summary["exploration_score"]),
        "score_ci_low": _num(ci[0]),
        "score_ci_high": _num(ci[1]),
        "auc": _num(summary["auc"]),
        **{c: ";".join(repr(float(x)) for x in summary[c]) for c in LIST_COLUMNS},
        "seeds_at_bayes_optimal": str(summary["seeds_at_bayes_optimal"]),
        "dataset_id": data["dataset_id"] or "",
        "obs_type": data["obs_type"],
        "trials_per_task": tpt,
        "seeds": " ".join(str(x) for x in seeds),
        "total_trials": str(total_trials(data)),
        "distinct_rollouts": distinct,
        "secret_id": sid,
        "wall_time_s": repr(float(data["wall_time_s"])),
        "workers": str(data["workers"]),
        "machine": f"{machine.get('cpu', '?')} x{machine.get('cpu_count', '?')}",
        "date": data["date"],
        "results_sha256": sha256,
        "schema_version": str(data["schema_version"]),
    }


# ------------------------------------------------------------------------------------- validate
def load_submission(path: Path) -> tuple[dict, bytes]:
    if not path.is_file():
        raise Rejected(f"no results file at {path}")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Rejected(f"{path} is not valid JSON: {exc}") from exc
    return data, raw


def check_submission(data: dict, raw: bytes, rows: Sequence[dict[str, str]]) -> dict[str, str]:
    """The new CSV row, or `Rejected` with the reason (schema, eligibility, duplicate)."""
    try:
        validate_results(data)
        check_eligible(data)
    except SchemaError as exc:
        raise Rejected(str(exc)) from exc
    except IneligibleError as exc:
        raise Rejected(f"not accepted: {exc}") from exc
    sha = hashlib.sha256(raw).hexdigest()
    ds = data["dataset_id"] or ""
    for row in rows:
        if row["results_sha256"] == sha:
            raise Rejected(f"duplicate: this exact file was already submitted (row of {row['agent']} on {row['env_id']})")
        if (row["agent"], row["agent_version"], row["env_id"], row["dataset_id"], row["episodes"]) == (
            data["agent"], data["agent_version"], data["env_id"], ds, str(data["episodes"])
        ):
            raise Rejected(
                f"duplicate: {data['agent']} version {data['agent_version']} already has a row for "
                f"{data['env_id']} (dataset {ds or 'none'}, K={data['episodes']}, submitted {row['date']}); "
                "give the agent a new version to submit again"
            )
    return row_from_results(data, sha)


# --------------------------------------------------------------------------------------- render
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-").lower()


def _groups(rows: Sequence[dict[str, str]]) -> list[tuple[str, int, list[dict[str, str]]]]:
    """(env, K, rows ranked by exploration score, best first; ties by agent name) in a fixed order."""
    keys = sorted({(r["env_id"], int(r["episodes"])) for r in rows})
    out = []
    for env, k in keys:
        mine = [r for r in rows if r["env_id"] == env and int(r["episodes"]) == k]
        mine.sort(key=lambda r: (-_score(r), r["agent"], r["agent_version"]))
        out.append((env, k, mine))
    return out


def _score(row: dict[str, str]) -> float:
    return float(row["exploration_score"]) if row["exploration_score"] else float("-inf")


def _score_cell(row: dict[str, str]) -> str:
    if not row["exploration_score"]:
        return "n/a (K = 1)"
    return _cell(float(row["exploration_score"]), float(row["score_ci_low"]), float(row["score_ci_high"]))


def _provenance(row: dict[str, str]) -> str:
    if row["schema_version"] == "1":
        return "schema 1*"
    distinct = f"{row['distinct_rollouts']} distinct"
    secret = "public secret" if row["secret_id"] == PUBLIC_SECRET_ID else f"secret {row['secret_id'][:8]}"
    return f"{secret}; {distinct}"


def plot_name(env: str, k: int) -> str:
    return f"{_slug(env.split('/')[-1])}_K{k}.png"


def _cell(rate: float, lo: float, hi: float) -> str:
    return f"{rate:.2f} [{lo:.2f}, {hi:.2f}]"


def _table(rows: Sequence[dict[str, str]], k: int) -> tuple[list[str], list[list[str]]]:
    head = ["rank", "agent", "version", "exploration score [95% CI]"]
    head += [f"ep {e}" for e in range(1, k + 1)]
    head += ["seeds at Bayes-optimal", "dataset", "trials (training seeds)", "tasks; rollouts", "date"]
    body = []
    for rank, r in enumerate(rows, 1):
        rates, los, his = _floats(r["success_rate"]), _floats(r["ci_low"]), _floats(r["ci_high"])
        line = [str(rank), r["agent"], r["agent_version"], _score_cell(r)]
        line += [_cell(a, b, c) for a, b, c in zip(rates, los, his)]
        line += [f"{r['seeds_at_bayes_optimal']} of {len(r['seeds'].split())}", r["dataset_id"] or "none",
                 f"{r['total_trials']} ({r['seeds']})", _provenance(r), r["date"][:10]]
        body.append(line)
    if rows:
        bayes = _floats(rows[0]["bayes_optimal"])
        body.append(["", "*Bayes-optimal*", "", "1.00"] + [f"{b:.2f}" for b in bayes] + ["", "", "", "", ""])
    return head, body


_STATS_TEXT = (
    "Success rate in each exploration episode of a trial (K episodes of one hidden task): the mean over "
    "training seeds of each seed's task-balanced rate, with a 95% stratified-bootstrap interval (training "
    "seeds resampled, then trials within each seed and task). Ranked by the exploration score: 0 = the best "
    "agent that never adapts (area K/N under the curve), 1 = Bayes-optimal (area of min(1, k/N)), negative = "
    "worse than never adapting. \"Seeds at Bayes-optimal\" counts training seeds whose curve reaches "
    "min(1, k/N) in every episode."
)


def render_readme(rows: Sequence[dict[str, str]]) -> str:
    lines = [
        "# RefExp leaderboard",
        "",
        _STATS_TEXT + " Agents observe pixels; agents that see the hidden task are never ranked; each row is "
        f"at least {MIN_TRIALS} trials. Protocol: `docs/benchmark.md`.",
        "",
        "\\* schema 1: scored before the current protocol (tasks drawn i.i.d. per trial, not task-balanced, "
        "not ordered by an evaluation secret); its statistics are recomputed from its raw data.",
        "",
        "Submit: `python -m benchmark.run --agent YOURS --seeds 0 1 2` then "
        "`python -m leaderboard submit results/FILE.json`. Generated from `results.csv` by "
        "`python -m leaderboard render`: do not edit by hand. A superseded version leaves with "
        "`python -m leaderboard withdraw AGENT VERSION`.",
        "",
    ]
    if not rows:
        lines += ["*No submissions yet.*", ""]
    for env, k, mine in _groups(rows):
        head, body = _table(mine, k)
        lines += [f"## {env}, K = {k}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        lines += ["", f"![{env} K={k}](plots/{plot_name(env, k)})", ""]
    return "\n".join(lines)


def render_html(rows: Sequence[dict[str, str]]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>RefExp leaderboard</title>',
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}td:nth-child(2),th:nth-child(2){text-align:left}tr.ref td{font-style:italic;"
        "color:#555}img{max-width:100%}</style></head><body>",
        "<h1>RefExp leaderboard</h1>",
        f"<p>{html.escape(_STATS_TEXT)} Pixel observations; at least {MIN_TRIALS} trials per row; "
        "agents that see the hidden task are not ranked. * schema 1: scored before the current protocol "
        "(tasks i.i.d., no secret); statistics recomputed from its raw data. Generated from "
        "<code>results.csv</code>.</p>",
    ]
    if not rows:
        parts.append("<p><em>No submissions yet.</em></p>")
    for env, k, mine in _groups(rows):
        head, body = _table(mine, k)
        parts.append(f"<h2>{esc(env)}, K = {k}</h2>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>")
        for b in body:
            cls = ' class="ref"' if b[0] == "" else ""
            parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(c.strip('*'))}</td>" for c in b) + "</tr>")
        parts.append("</tbody></table>")
        parts.append(f'<img src="plots/{esc(plot_name(env, k))}" alt="{esc(env)} success per episode">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _render_plots(rows: Sequence[dict[str, str]], tmpdir: Path) -> dict[str, Path]:
    """PNG per (env, K) group, written into `tmpdir`: {final file name: temp path}."""
    from benchmark.plot import Curve, plot_curves  # the one Figure-2 style (matplotlib only)

    out = {}
    for env, k, mine in _groups(rows):
        curves = [
            Curve(
                label=f"{r['agent']} {r['agent_version']} ({_score_cell(r).split(' [')[0]})",
                env_id=env, success_rate=_floats(r["success_rate"]), ci_low=_floats(r["ci_low"]),
                ci_high=_floats(r["ci_high"]), bayes_optimal=_floats(r["bayes_optimal"]),
            )
            for r in mine
        ]
        name = plot_name(env, k)
        out[name] = plot_curves(curves, tmpdir / name, title=f"RefExp leaderboard, K = {k}")
    return out


# ------------------------------------------------------------------------------- atomic commit
def _write_all(paths: Paths, files: dict[Path, bytes], plots: dict[str, Path]) -> None:
    """Stage every file beside its destination, then rename each into place."""
    staged: list[tuple[Path, Path]] = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        for dest, content in files.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            staged.append((Path(tmp), dest))
        paths.plots.mkdir(parents=True, exist_ok=True)
        for name, src in plots.items():
            fd, tmp = tempfile.mkstemp(dir=paths.plots, prefix=f".{name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(src.read_bytes())
            staged.append((Path(tmp), paths.plots / name))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, dest in staged:
        os.chmod(tmp, 0o666 & ~umask)  # the usual permissions, not the temp file's 0600
        os.replace(tmp, dest)
    for old in paths.plots.glob("*.png"):  # plots of groups that no longer exist
        if old.name not in plots:
            old.unlink()


def render(paths: Paths, rows: Sequence[dict[str, str]] | None = None, extra: dict[Path, bytes] | None = None) -> None:
    """Regenerate README.md, index.html and plots from `rows` (default: the CSV), atomically."""
    files = dict(extra or {})
    if rows is None:  # from the CSV alone (a schema-1-era CSV is rebuilt and written back)
        rows = read_rows(paths.csv, paths.submissions)
        files.setdefault(paths.csv, rows_to_csv(rows).encode())
    rows = list(rows)
    files[paths.readme] = render_readme(rows).encode()
    files[paths.html] = render_html(rows).encode()
    with tempfile.TemporaryDirectory() as tmp:
        plots = _render_plots(rows, Path(tmp))
        _write_all(paths, files, plots)


def submit(results_path: str | Path, root: str | Path = LEADERBOARD_DIR) -> dict[str, str]:
    """Validate and add a results file; returns the new row. Raises `Rejected` (no file changed)."""
    paths = Paths(Path(root))
    data, raw = load_submission(Path(results_path))
    rows = read_rows(paths.csv, paths.submissions)
    row = check_submission(data, raw, rows)
    new_rows = rows + [row]
    extra = {
        paths.csv: rows_to_csv(new_rows).encode(),
        paths.submissions / f"{row['results_sha256'][:16]}.json": raw,
    }
    render(paths, new_rows, extra)
    return row


def withdraw(agent: str, version: str, root: str | Path = LEADERBOARD_DIR, env_id: str | None = None) -> list[dict[str, str]]:
    """Remove the rows of `agent` at `version` (on `env_id`, or every env) and their kept
    submission files, then re-render; for a maintainer replacing a superseded checkpoint. Returns
    the removed rows; raises `Rejected` (no file changed) if none matches."""
    paths = Paths(Path(root))
    rows = read_rows(paths.csv, paths.submissions)
    gone = [r for r in rows if r["agent"] == agent and r["agent_version"] == version
            and (env_id is None or r["env_id"] == env_id)]
    if not gone:
        have = sorted({f"{r['agent']} {r['agent_version']}" for r in rows})
        raise Rejected(f"no row for {agent} version {version}" + (f" on {env_id}" if env_id else "") + f"; rows: {have}")
    kept = [r for r in rows if r not in gone]
    render(paths, kept, {paths.csv: rows_to_csv(kept).encode()})
    for r in gone:
        (paths.submissions / f"{r['results_sha256'][:16]}.json").unlink(missing_ok=True)
    return gone


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 done, 1 refused or failed (a rejected submission, a malformed CSV), 2 usage error."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m leaderboard", formatter_class=fmt,
                                     description="RefExp leaderboard. Exit status: 0 done, 1 refused or failed, 2 usage error.")
    parser.add_argument("--dir", default=str(LEADERBOARD_DIR), help="leaderboard directory")
    sub = parser.add_subparsers(dest="command", required=True)
    p_submit = sub.add_parser("submit", help="validate a results JSON and add it", formatter_class=fmt)
    p_submit.add_argument("results", help="a results JSON written by python -m benchmark.run")
    sub.add_parser("render", help="rebuild README.md, index.html and plots from results.csv", formatter_class=fmt)
    p_wd = sub.add_parser("withdraw", help="remove an agent version's rows (a superseded checkpoint)", formatter_class=fmt)
    p_wd.add_argument("agent", help="agent name, as in results.csv")
    p_wd.add_argument("version", help="agent_version, as in results.csv")
    p_wd.add_argument("--env", default=None, help="only this env's row (None: every env)")
    args = parser.parse_args(argv)
    paths = Paths(Path(args.dir))
    if args.command == "withdraw":
        try:
            gone = withdraw(args.agent, args.version, paths.root, args.env)
        except Rejected as exc:
            print(f"rejected: {exc}", file=sys.stderr)
            return 1
        for r in gone:
            print(f"withdrew: {r['agent']} {r['agent_version']} on {r['env_id']} (K={r['episodes']})")
        return 0
    if args.command == "render":
        try:
            render(paths)
        except ValueError as exc:  # a malformed CSV
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"rendered {paths.readme}, {paths.html} and {paths.plots}/ from {paths.csv}")
        return 0
    try:
        row = submit(args.results, paths.root)
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a malformed CSV
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"accepted: {row['agent']} {row['agent_version']} on {row['env_id']} (K={row['episodes']}): "
        f"exploration score {_score_cell(row)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
