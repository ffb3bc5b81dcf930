"""The leaderboard's files and every change to them: submit, withdraw, render, record a verification.

    python -m leaderboard submit results/scripted-explorer_twodrawer-v0_K3_tpt17_s0-1-2.json
    python -m leaderboard render

Layout of a leaderboard directory (the package's own by default):

    results.csv               one row per accepted results file (`leaderboard.rows`)
    submissions/<id>.json     each row's results file, byte for byte (id = SHA-256[:16])
    verifications/<id>.json   signed verification records (`leaderboard.signing`, `leaderboard.verify`)
    README.md, index.html, rows/<id>.html, plots/**.png, render.json   generated (`leaderboard.page`)

Every change takes the directory's lock (`filelock`, `.lock`), re-reads the files under it, stages
all new files beside their destinations and renames them into place only when all were produced:
concurrent submits, withdrawals and renders all land, and a rejected or failed change leaves every
file byte-identical. Written files get the usual permissions (0666 less the umask).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from benchmark.schema import IneligibleError, SchemaError, check_eligible, validate_results
from benchmark.text import name_problems
from leaderboard import rows as R

LEADERBOARD_DIR = Path(__file__).resolve().parent
LOCK_TIMEOUT_S = 900.0  # a render of a large board takes a while; waiting longer means a stuck process


class Rejected(Exception):
    """A change the leaderboard refuses; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Paths:
    """The leaderboard's files under one directory."""

    root: Path

    @property
    def csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"

    @property
    def verifications(self) -> Path:
        return self.root / "verifications"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def submission(self, rid: str) -> Path:
        return self.submissions / f"{rid}.json"

    def verification(self, rid: str) -> Path:
        return self.verifications / f"{rid}.json"


def locked(paths: Paths) -> FileLock:
    """The directory's lock: hold it for every read-modify-write of the leaderboard's files."""
    paths.root.mkdir(parents=True, exist_ok=True)
    return FileLock(str(paths.lock), timeout=LOCK_TIMEOUT_S)


@dataclass
class State:
    """Everything the pages are made from: the rows, their results files and verification records."""

    rows: list[dict[str, str]]
    results: dict[str, dict] = field(default_factory=dict)  # row id -> parsed results file
    records: dict[str, dict] = field(default_factory=dict)  # row id -> signed verification record


def load_state(paths: Paths) -> State:
    rows = R.read_rows(paths.csv)
    state = State(rows)
    for r in rows:
        sub = paths.submission(r["row_id"])
        if not sub.is_file():
            raise ValueError(f"row {r['row_id']} ({r['agent']} on {r['env_id']}) has no file {sub}; run `python -m leaderboard check`")
        state.results[r["row_id"]] = json.loads(sub.read_bytes())
        rec = paths.verification(r["row_id"])
        if rec.is_file():
            state.records[r["row_id"]] = json.loads(rec.read_bytes())
    return state


# ---------------------------------------------------------------------------------- atomic write
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def commit(root: Path, files: dict[Path, bytes], delete: tuple[Path, ...] = ()) -> None:
    """Stage `files` beside their destinations, rename each into place, then delete `delete`.

    Nothing is renamed unless every file was staged, so an error leaves the directory as it was.
    Staged files are chmod'ed to 0666 & ~umask (mkstemp's 0600 would survive the rename)."""
    mode = 0o666 & ~_umask()
    staged: list[tuple[Path, Path]] = []
    try:
        for dest, content in files.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chmod(tmp, mode)
            staged.append((Path(tmp), dest))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, dest in staged:
        os.replace(tmp, dest)
    for path in delete:
        if path not in files:
            path.unlink(missing_ok=True)


def _write_state(paths: Paths, state: State, files: dict[Path, bytes], delete: tuple[Path, ...] = ()) -> None:
    """Render the pages of `state` and commit them together with `files` (the CSV, kept files)."""
    from leaderboard import page  # matplotlib: imported only when pages are made

    pages, stale = page.build(paths.root, state)
    commit(paths.root, {**files, **pages}, tuple(delete) + tuple(stale))


def render(paths: Paths) -> None:
    """Regenerate every page from the CSV, the kept results files and the records."""
    with locked(paths):
        _write_state(paths, load_state(paths), {})


# ------------------------------------------------------------------------------------- submit
def load_submission(path: Path) -> tuple[dict, bytes]:
    if not path.is_file():
        raise Rejected(f"no results file at {path}")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Rejected(f"{path} is not valid JSON: {exc}") from exc
    return data, raw


def validated_row(data: dict, raw: bytes) -> dict[str, str]:
    """The row of a results file the leaderboard accepts, or `Rejected` with the reason."""
    try:
        validate_results(data)
        check_eligible(data)
    except SchemaError as exc:
        raise Rejected(str(exc)) from exc
    except IneligibleError as exc:
        raise Rejected(f"not accepted: {exc}") from exc
    problems = [p for key in ("agent", "agent_version") for p in name_problems(key, data[key])]
    if problems:  # shown in tables and pages: refused, not silently altered
        raise Rejected("; ".join(problems))
    return R.row_from_results(data, hashlib.sha256(raw).hexdigest())


def submit(results_path: str | Path, root: str | Path = LEADERBOARD_DIR, replace: bool = False) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Validate and add a results file: (the new row, the rows it replaced). Raises `Rejected`
    with every file unchanged when the file is invalid, ineligible, already on the board, or the
    same agent version already has a row on that env and `replace` is false."""
    data, raw = load_submission(Path(results_path))
    validated_row(data, raw)
    return add_row(root, data, raw, replace)


def add_row(root: str | Path, data: dict, raw: bytes, replace: bool = False) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Add the row of a results file (`raw`, parsed as `data`) under the lock: no eligibility
    check here (`submit` does it); the duplicate rules hold."""
    paths = Paths(Path(root))
    row = R.row_from_results(data, hashlib.sha256(raw).hexdigest())
    with locked(paths):
        state = load_state(paths)
        for old in state.rows:
            if old["results_sha256"] == row["results_sha256"]:
                raise Rejected(f"duplicate: this exact file was already submitted (row {old['row_id']}, {old['agent']} on {old['env_id']})")
        same = [old for old in state.rows if R.same_agent_version(old, row)]
        if same and not replace:
            o = same[0]
            raise Rejected(
                f"duplicate: {row['agent']} version {o['agent_version']} already has a row on {row['env_id']} "
                f"(K={row['episodes']}, protocol {row['protocol']}, row {o['row_id']}, submitted {o['date'][:10]}, "
                f"{o['score_name']} score {float(o['score']):.3f}); this file's version {row['agent_version']} "
                "shares a checkpoint with it. Pass --replace to replace that row, or give a retrained agent a new version"
            )
        kept = [r for r in state.rows if r not in same]
        twin = R.twin_problem(data, [(r, state.results[r["row_id"]]) for r in kept])
        if twin:
            raise Rejected(f"duplicate: {twin}")
        for old in same:
            state.results.pop(old["row_id"], None)
            state.records.pop(old["row_id"], None)
        new = State(kept + [row], {**state.results, row["row_id"]: data}, state.records)
        delete = [p for old in same for p in (paths.submission(old["row_id"]), paths.verification(old["row_id"]))]
        files = {paths.csv: R.rows_to_csv(new.rows).encode(), paths.submission(row["row_id"]): raw}
        _write_state(paths, new, files, tuple(delete))
    return row, same


def withdraw(agent: str, version: str, root: str | Path = LEADERBOARD_DIR, env_id: str | None = None) -> list[dict[str, str]]:
    """Remove the rows of `agent` at `version` (on `env_id`, or every env), their kept files and
    records, then re-render; for a maintainer replacing a superseded checkpoint. Returns the
    removed rows; raises `Rejected` (no file changed) if none matches."""
    paths = Paths(Path(root))
    with locked(paths):
        state = load_state(paths)
        gone = [r for r in state.rows if r["agent"] == agent and r["agent_version"] == version
                and (env_id is None or r["env_id"] == env_id)]
        if not gone:
            have = sorted({f"{r['agent']} {r['agent_version']}" for r in state.rows})
            raise Rejected(f"no row for {agent} version {version}" + (f" on {env_id}" if env_id else "") + f"; rows: {have}")
        kept = [r for r in state.rows if r not in gone]
        new = State(kept, {k: v for k, v in state.results.items() if k not in {g["row_id"] for g in gone}},
                    {k: v for k, v in state.records.items() if k not in {g["row_id"] for g in gone}})
        delete = [p for g in gone for p in (paths.submission(g["row_id"]), paths.verification(g["row_id"]))]
        _write_state(paths, new, {paths.csv: R.rows_to_csv(kept).encode()}, tuple(delete))
    return gone


def rebuild(root: str | Path = LEADERBOARD_DIR) -> list[dict[str, str]]:
    """Re-derive every row of `results.csv` (in its order) from its kept results file and record,
    then re-render: after the statistics or the CSV's columns change (any earlier CSV layout with a
    `results_sha256` column is read). Returns the new rows."""
    import csv

    paths = Paths(Path(root))
    with locked(paths):
        with open(paths.csv, newline="") as fh:
            shas = [r["results_sha256"] for r in csv.DictReader(fh)]
        state = State([])
        for sha in shas:
            rid = R.row_id(sha)
            raw = paths.submission(rid).read_bytes()
            if hashlib.sha256(raw).hexdigest() != sha:
                raise ValueError(f"{paths.submission(rid)} does not have the SHA-256 its row names: cannot rebuild")
            data = json.loads(raw)
            validate_results(data)
            status = R.SELF_REPORTED
            if paths.verification(rid).is_file():
                state.records[rid] = json.loads(paths.verification(rid).read_bytes())
                status = state.records[rid]["record"]["status"]
            state.rows.append(R.row_from_results(data, sha, status))
            state.results[rid] = data
        _write_state(paths, state, {paths.csv: R.rows_to_csv(state.rows).encode()})
    return state.rows


def record_verification(root: str | Path, rid: str, signed: dict, status: str, expected_sha: str) -> dict[str, str]:
    """Store a signed verification record of row `rid` and set the row's status; re-render.

    Only the record, the row's `verification` cell and the pages change: the results file and
    every other row stay byte-identical. Raises `Rejected` if the row is gone or was replaced
    while the verification ran (its results file no longer has `expected_sha`)."""
    if status not in R.STATUSES:
        raise ValueError(f"unknown verification status {status!r}; one of {R.STATUSES}")
    paths = Paths(Path(root))
    with locked(paths):
        state = load_state(paths)
        match = [r for r in state.rows if r["row_id"] == rid]
        if not match or match[0]["results_sha256"] != expected_sha:
            raise Rejected(f"row {rid} is no longer on the board (withdrawn or replaced while it was verified)")
        rows = [dict(r, verification=status) if r["row_id"] == rid else r for r in state.rows]
        new = State(rows, state.results, {**state.records, rid: signed})
        files = {paths.csv: R.rows_to_csv(rows).encode(),
                 paths.verification(rid): (json.dumps(signed, indent=1, sort_keys=True) + "\n").encode()}
        _write_state(paths, new, files)
        return next(r for r in rows if r["row_id"] == rid)
