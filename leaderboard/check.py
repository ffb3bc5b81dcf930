"""`python -m leaderboard check`: is every file under the leaderboard directory what `results.csv`
and the kept evidence say it must be? CI runs it, so a hand edit fails CI.

It checks: each row against its results file (SHA-256, schema, the row re-derived field by field);
each verification record's Ed25519 signature under the committed public key, and that the row's
status is the record's; results files or records without a row (a lost submit) and rows without
their file; one row per agent version; no agent under two names (rows of differently named agents
on one env sharing >= 95% of their rollout digests); the pages, re-rendered in memory and compared byte for
byte, and the PNGs by the hash of their inputs (never by their bytes, which change with
matplotlib's version); no stray or temporary files.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from benchmark.schema import SchemaError, check_eligible, validate_results
from leaderboard import rows as R
from leaderboard import signing
from leaderboard.board import Paths, State

# Files and folders that may sit in a leaderboard directory besides the data (the package's code).
ALLOWED_TOP = {"results.csv", "README.md", "index.html", "render.json", "verify_key.pub", ".lock", "notes.json",
               "__pycache__", "assets", "static", "submissions", "verifications", "plots", "rows"}


def _same(a: str, b: str) -> bool:
    """Equal cells; numbers (and ';'-joined lists of them) equal to 1e-9, which absorbs summation-order
    noise between numpy builds in re-derived statistics, never a hand edit."""
    if a == b:
        return True
    try:
        xs, ys = [float(x) for x in a.split(";")], [float(y) for y in b.split(";")]
    except ValueError:
        return False
    return len(xs) == len(ys) and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(xs, ys))


def check(paths: Paths, public_key_path: Path = signing.PUBLIC_KEY_PATH) -> list[str]:
    """Every problem found, in words (an empty list: the leaderboard is consistent)."""
    from leaderboard import page

    problems: list[str] = []
    try:
        rows = R.read_rows(paths.csv)
    except (ValueError, OSError) as exc:
        return [f"results.csv: {exc}"]
    key = signing.load_public(public_key_path)
    state = State(rows)
    seen: dict[str, dict[str, str]] = {}
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"results.csv line {i} ({row['agent']} on {row['env_id']})"
        rid = row["row_id"]
        if rid in seen:
            problems.append(f"{where}: row id {rid} appears twice")
            continue
        for other in seen.values():
            if R.same_agent_version(other, row):
                problems.append(f"{where}: a second row of {row['agent']} version {row['agent_version']} (row {other['row_id']} has it)")
        seen[rid] = row
        sub = paths.submission(rid)
        if not sub.is_file():
            problems.append(f"{where}: its results file {sub.relative_to(paths.root)} is missing")
            continue
        raw = sub.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        if sha != row["results_sha256"] or R.row_id(sha) != rid:
            problems.append(f"{where}: {sub.relative_to(paths.root)} has SHA-256 {sha}, the row says {row['results_sha256']}")
            continue
        try:
            data = json.loads(raw)
            validate_results(data)
            if data["schema_version"] != 1:  # protocol-v0 rows were accepted under the rules of their day
                check_eligible(data)
        except (ValueError, SchemaError) as exc:
            problems.append(f"{where}: its results file is not acceptable: {exc}")
            continue
        state.results[rid] = data
        status = R.SELF_REPORTED
        rec_path = paths.verification(rid)
        if rec_path.is_file():
            try:
                signed = json.loads(rec_path.read_bytes())
                record = signing.verified_record(signed, key)
            except (ValueError, signing.SignatureError) as exc:
                problems.append(f"{where}: verification record {rec_path.relative_to(paths.root)}: {exc}")
                continue
            if record.get("results_sha256") != row["results_sha256"]:
                problems.append(f"{where}: verification record is for another results file")
                continue
            status = record.get("status")
            state.records[rid] = signed
        expected = R.row_from_results(data, sha, status)
        diff = [c for c in R.COLUMNS if not _same(expected[c], row[c])]
        if diff:
            hint = ("; if the statistics code changed (schema-1 rows are re-derived), run `python -m leaderboard "
                    "rebuild`" if row["schema_version"] == "1" else "")
            problems.append(f"{where}: columns {diff} differ from what its results file and record give "
                            f"(e.g. {diff[0]}: {row[diff[0]]!r}, expected {expected[diff[0]]!r}){hint}")

    checked = [r for r in rows if r["row_id"] in state.results]
    for i, row in enumerate(checked):
        twin = R.twin_problem(state.results[row["row_id"]], [(o, state.results[o["row_id"]]) for o in checked[:i]])
        if twin:
            problems.append(f"row {row['row_id']}: {twin}")
    for folder, what in ((paths.submissions, "results file"), (paths.verifications, "verification record")):
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix != ".json" or p.stem not in seen:
                    problems.append(f"{p.relative_to(paths.root)}: a {what} without a row in results.csv "
                                    "(a lost submit or a left-over file)")
    for p in sorted(paths.root.iterdir()):
        if p.name not in ALLOWED_TOP and p.suffix != ".py":
            problems.append(f"{p.name}: not a leaderboard file")
    for p in sorted(paths.root.rglob("*.tmp")):
        problems.append(f"{p.relative_to(paths.root)}: a temporary file left by an interrupted write")
    if problems:
        return problems  # pages of an inconsistent state say nothing useful

    files, stale = page.build(paths.root, state, draw=False)
    for dest, content in sorted(files.items()):
        rel = dest.relative_to(paths.root)
        if not dest.is_file():
            problems.append(f"{rel}: missing; run `python -m leaderboard render`")
        elif dest.read_bytes() != content:
            problems.append(f"{rel}: not what `python -m leaderboard render` makes of results.csv and the "
                            "kept files (edited by hand, or stale); run it")
    manifest = json.loads(files[paths.root / page.MANIFEST])
    for rel in manifest["plots"]:
        png = paths.root / rel
        if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append(f"{rel}: missing or not a PNG; run `python -m leaderboard render`")
    for p in stale:
        problems.append(f"{p.relative_to(paths.root)}: a generated file that no row needs; run `python -m leaderboard render`")
    return problems
