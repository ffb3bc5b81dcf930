"""The public leaderboard (`python -m leaderboard`): submit a results file, or rebuild the pages.

    python -m leaderboard submit results/scripted-explorer_twodrawer-v0_K3_n100_s0-1-2.json
    python -m leaderboard render

`submit` validates the file (schema and internal consistency, at least 100 trials, a known env and
dataset, pixel observations, an eligible agent, no duplicate row), then adds a row to
`results.csv`, keeps a copy of the file under `submissions/`, and regenerates `README.md` (one
markdown table per env and K, ranked by normalised score, with 95% CIs), `index.html` and the
plots under `plots/`. A rejected submission prints the reason, exits 1, and changes no file.
Every file is written to a temporary name and renamed into place only after all of them were
produced. `render` rebuilds the pages from the CSV alone (the same CSV gives the same bytes).
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

from benchmark.schema import (
    MIN_TRIALS,
    IneligibleError,
    SchemaError,
    check_eligible,
    validate_results,
)

LEADERBOARD_DIR = Path(__file__).resolve().parent
COLUMNS = (
    "env_id", "episodes", "agent", "agent_version", "normalised_score", "score_ci_low", "score_ci_high",
    "success_rate", "ci_low", "ci_high", "bayes_optimal", "dataset_id", "obs_type", "trials", "seeds",
    "total_trials", "wall_time_s", "workers", "machine", "date", "results_sha256", "schema_version",
)
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
def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is not None and tuple(reader.fieldnames) != COLUMNS:
            raise ValueError(f"{path} has columns {reader.fieldnames}, expected {list(COLUMNS)}")
        return list(reader)


def rows_to_csv(rows: Sequence[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row[c] for c in COLUMNS})
    return buf.getvalue()


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(";")] if text else []


def row_from_results(data: dict, sha256: str) -> dict[str, str]:
    """The CSV row of a validated results dict."""
    machine = data["machine"]
    return {
        "env_id": data["env_id"],
        "episodes": str(data["episodes"]),
        "agent": data["agent"],
        "agent_version": data["agent_version"],
        "normalised_score": repr(float(data["normalised_score"])),
        "score_ci_low": repr(float(data["normalised_score_ci"][0])),
        "score_ci_high": repr(float(data["normalised_score_ci"][1])),
        **{c: ";".join(repr(float(x)) for x in data[c]) for c in LIST_COLUMNS},
        "dataset_id": data["dataset_id"] or "",
        "obs_type": data["obs_type"],
        "trials": str(data["trials"]),
        "seeds": " ".join(str(s) for s in data["seeds"]),
        "total_trials": str(data["trials"] * len(data["seeds"])),
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
    """(env, K, rows ranked by normalised score, best first; ties by agent name) in a fixed order."""
    keys = sorted({(r["env_id"], int(r["episodes"])) for r in rows})
    out = []
    for env, k in keys:
        mine = [r for r in rows if r["env_id"] == env and int(r["episodes"]) == k]
        mine.sort(key=lambda r: (-float(r["normalised_score"]), r["agent"], r["agent_version"]))
        out.append((env, k, mine))
    return out


def plot_name(env: str, k: int) -> str:
    return f"{_slug(env.split('/')[-1])}_K{k}.png"


def _cell(rate: float, lo: float, hi: float) -> str:
    return f"{rate:.2f} [{lo:.2f}, {hi:.2f}]"


def _table(rows: Sequence[dict[str, str]], k: int) -> tuple[list[str], list[list[str]]]:
    head = ["rank", "agent", "version", "normalised score [95% CI]"]
    head += [f"ep {e}" for e in range(1, k + 1)]
    head += ["dataset", "trials (seeds)", "date"]
    body = []
    for rank, r in enumerate(rows, 1):
        rates, los, his = _floats(r["success_rate"]), _floats(r["ci_low"]), _floats(r["ci_high"])
        line = [
            str(rank), r["agent"], r["agent_version"],
            _cell(float(r["normalised_score"]), float(r["score_ci_low"]), float(r["score_ci_high"])),
        ]
        line += [_cell(a, b, c) for a, b, c in zip(rates, los, his)]
        line += [r["dataset_id"] or "none", f"{r['total_trials']} ({r['seeds']})", r["date"][:10]]
        body.append(line)
    if rows:
        bayes = _floats(rows[0]["bayes_optimal"])
        body.append(["", "*Bayes-optimal*", "", "1.00"] + [f"{b:.2f}" for b in bayes] + ["", "", ""])
    return head, body


def render_readme(rows: Sequence[dict[str, str]]) -> str:
    lines = [
        "# RefExp leaderboard",
        "",
        "Success rate in each exploration episode of a trial (K episodes of one hidden task), with 95% "
        "Wilson intervals over all trials and seeds, and the normalised score: the area under the "
        "agent's success curve over the Bayes-optimal area, sum(success) / sum(min(1, k/N)), with a "
        "stratified-bootstrap 95% interval. Agents observe pixels; agents that see the hidden task "
        f"are never ranked; each row is at least {MIN_TRIALS} trials. Protocol: `docs/benchmark.md`.",
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
        "<p>Success rate per exploration episode with 95% Wilson intervals; ranked by the normalised "
        "score (area under the success curve over the Bayes-optimal area min(1, k/N)) with a "
        f"stratified-bootstrap 95% interval. Pixel observations; at least {MIN_TRIALS} trials per row; "
        "agents that see the hidden task are not ranked. Generated from <code>results.csv</code>.</p>",
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
                label=f"{r['agent']} {r['agent_version']} ({float(r['normalised_score']):.2f})",
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
        os.replace(tmp, dest)
    for old in paths.plots.glob("*.png"):  # plots of groups that no longer exist
        if old.name not in plots:
            old.unlink()


def render(paths: Paths, rows: Sequence[dict[str, str]] | None = None, extra: dict[Path, bytes] | None = None) -> None:
    """Regenerate README.md, index.html and plots from `rows` (default: the CSV), atomically."""
    rows = read_rows(paths.csv) if rows is None else list(rows)
    files = dict(extra or {})
    files[paths.readme] = render_readme(rows).encode()
    files[paths.html] = render_html(rows).encode()
    with tempfile.TemporaryDirectory() as tmp:
        plots = _render_plots(rows, Path(tmp))
        _write_all(paths, files, plots)


def submit(results_path: str | Path, root: str | Path = LEADERBOARD_DIR) -> dict[str, str]:
    """Validate and add a results file; returns the new row. Raises `Rejected` (no file changed)."""
    paths = Paths(Path(root))
    data, raw = load_submission(Path(results_path))
    rows = read_rows(paths.csv)
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
    rows = read_rows(paths.csv)
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
        f"normalised score {float(row['normalised_score']):.3f} "
        f"[{float(row['score_ci_low']):.3f}, {float(row['score_ci_high']):.3f}]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
