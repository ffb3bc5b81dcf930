"""`python -m leaderboard verify RESULTS.json --eval-secret-file PATH`: re-run a row's agent with
the secret evaluation key and fresh seeds, compare, and sign the outcome (maintainers only: needs the
secret in a file, or on stdin with `-`, and the signing key).

A submitted agent is untrusted code. The re-run is the harness's own command line (`python -m
benchmark.run`, through `leaderboard.rerun`, which reads the secret from stdin) in a new session,
with a wall-clock limit (the session is killed when it is exceeded), a CPU-time limit and an
address-space limit (`resource.setrlimit`), in a scratch folder; the harness runs the agent in a
bubblewrap sandbox (`benchmark/sandbox.py`, `--isolation sandbox`: no network, no view of other
processes, read-only code, no home folder, no key), and `verify` refuses to run without one. The
signing key is not loaded, and not reachable, while the agent runs: before the re-run a short-lived
child process checks that it matches the public key; only after every process of the re-run's
session is gone does `verify` read it and sign. Nothing the agent does can change the leaderboard's
files: the parent reads its results file, validates it, and only then writes, under the
leaderboard's lock, the signed record and the row's status. Outcomes: `verified` (the re-run's score interval overlaps the submitted one, same
agent version), `disagrees` (both numbers are kept and shown), `failed-verification` (crash,
timeout, memory limit, malformed actions or results, any trial the agent failed: the reason is kept).
See the threat model
in docs/benchmark.md.

What a submission contains: the results file (agent name, version, `agent_spec`, env, K, seeds,
trials) and, for an agent that this repository does not ship, an artifacts folder holding its code
and weights with `submission.json` = `{"agent_spec": ..., "files": {"relative/path": "sha256"}}`;
`verify --artifacts DIR` checks every hash before anything runs, puts DIR on the re-run's
`PYTHONPATH` and runs from it (so a relative checkpoint path resolves).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.protocol import FAILED_PREFIX, NAMED_SECRETS, SECRET_ENV_VAR, read_secret_file, secret_id
from benchmark.sandbox import rlimits
from benchmark.schema import SchemaError, validate_results
from leaderboard import board, signing
from leaderboard import rows as R

SECRET_ENV = SECRET_ENV_VAR
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class VerifyConfig:
    """How a maintainer re-runs a submission."""

    results: str = field(metadata={"help": "the results JSON of a row on the board (or its copy under submissions/)"})
    time_limit_s: float = field(default=3600.0, metadata={"help": "wall-clock limit of the re-run, seconds"})
    memory_limit_gb: float = field(default=16.0, metadata={"help": "address-space limit of the re-run process (RLIMIT_AS), GiB"})
    eval_seed: int | None = field(default=None, metadata={"help": "evaluation seed of the re-run; None: a fresh one from the OS"})
    artifacts: str | None = field(default=None, metadata={"help": "folder with the agent's code, weights and submission.json (for agents not shipped here); None: a shipped agent"})
    signing_key: str | None = field(default=None, metadata={"help": f"maintainers' Ed25519 private key (PEM); None: ${signing.PRIVATE_KEY_ENV}"})
    eval_secret_file: str | None = field(default=None, metadata={"help": "file whose first line is the maintainers' evaluation secret (- = stdin)"})
    workers: int = field(default=2, metadata={"help": "harness workers of the re-run (spawned workers receive task ids, never the secret)"})

    def __post_init__(self):
        if self.time_limit_s <= 0 or self.memory_limit_gb <= 0:
            raise ValueError("time and memory limits must be positive")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str
    rerun: dict | None = None  # score, ci, eval_seed, agent_version, results_sha256


def check_artifacts(folder: Path, agent_spec: str) -> dict:
    """The artifacts folder's manifest after checking every listed file's SHA-256; `ValueError` else."""
    man_path = folder / "submission.json"
    if not man_path.is_file():
        raise ValueError(f"{folder} has no submission.json (the agent_spec and the SHA-256 of each file)")
    manifest = json.loads(man_path.read_text())
    if manifest.get("agent_spec") != agent_spec:
        raise ValueError(f"submission.json names agent_spec {manifest.get('agent_spec')!r}, the results file {agent_spec!r}")
    for rel, want in manifest.get("files", {}).items():
        path = (folder / rel).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            raise ValueError(f"artifact {rel} is missing from {folder}")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            raise ValueError(f"artifact {rel} has SHA-256 {got}, submission.json says {want}")
    return manifest


def run_limited(cmd: list[str], cwd: Path, env: dict[str, str], time_s: float, memory_gb: float,
                stdin: bytes = b"") -> tuple[int | None, str]:
    """Run `cmd` in a new session with the limits: (exit code or None on timeout, last output)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=rlimits(memory_gb, time_s))
    try:
        out, _ = proc.communicate(stdin, timeout=time_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        code = None
    kill_session(proc.pid)
    lines = out.decode(errors="replace").strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    return code, "\n".join(errors[-3:] if errors else lines[-12:])


def session_pids(sid: int) -> list[int]:
    """Live processes of session `sid` (from /proc/<pid>/stat)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(entry))
    return out


def kill_session(sid: int, timeout_s: float = 15.0) -> None:
    """SIGKILL every process of session `sid` until none is left (a sandbox's processes die with its
    bwrap, which is in this session); `board.Rejected` (nothing is signed) if some outlive `timeout_s`."""
    import time

    deadline = time.monotonic() + timeout_s
    while pids := session_pids(sid):
        if time.monotonic() > deadline:
            raise board.Rejected(f"processes {pids} of the re-run outlived it: nothing signed")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def rerun_command(data: dict, eval_seed: int, out_dir: Path, workers: int) -> list[str]:
    """The harness command of the re-run: the submission's settings, a fresh evaluation seed, the agent
    in a bubblewrap sandbox, run through `leaderboard.rerun` (which reads the secret from stdin)."""
    cmd = R.reproduce_command(data)
    assert cmd[:3] == ["python", "-m", "benchmark.run"], cmd
    args = R.without_eval_seed(cmd[3:]) + R.eval_seed_args(eval_seed)
    return [sys.executable, "-m", "leaderboard.rerun", *args, "--out", str(out_dir), "--no-progress", "--workers", str(workers),
            "--isolation", "sandbox"]


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """The agreement test of a re-run: two [low, high] score intervals share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def compare(data: dict, rerun: dict) -> Outcome:
    """verified when the agent version is the same and the score intervals overlap."""
    row, again = R.row_from_results(data, "0" * 64), R.row_from_results(rerun, "0" * 64)
    summary = {"score": float(again["score"]), "ci": [float(again["score_ci_low"]), float(again["score_ci_high"])],
               "agent_version": rerun["agent_version"]}
    if rerun["agent_version"] != data["agent_version"]:
        return Outcome("disagrees", f"the re-run loaded agent version {rerun['agent_version']}, the submission "
                       f"says {data['agent_version']} (different weights or code)", summary)
    lo, hi = float(row["score_ci_low"]), float(row["score_ci_high"])
    if intervals_overlap((lo, hi), tuple(summary["ci"])):
        return Outcome("verified", f"re-run {again['score_name']} score interval overlaps the submitted one", summary)
    return Outcome("disagrees", f"re-run {again['score_name']} score {summary['score']:.3f} "
                   f"[{summary['ci'][0]:.3f}, {summary['ci'][1]:.3f}] does not overlap the submitted "
                   f"{float(row['score']):.3f} [{lo:.3f}, {hi:.3f}]", summary)


def rerun(data: dict, cfg: VerifyConfig, secret: str, eval_seed: int) -> Outcome:
    """Re-run the agent of `data` in a limited child process and judge what comes back."""
    with tempfile.TemporaryDirectory(prefix="refexp-verify-") as tmp:
        out_dir = Path(tmp) / "out"
        cwd = Path(cfg.artifacts).resolve() if cfg.artifacts else Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in (signing.PRIVATE_KEY_ENV, SECRET_ENV) and not k.startswith("REFEXP_")}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([str(cwd)] if cfg.artifacts else []))
        cmd = rerun_command(data, eval_seed, out_dir, cfg.workers)
        code, tail = run_limited(cmd, cwd, env, cfg.time_limit_s, cfg.memory_limit_gb, (secret + "\n").encode())
        if code is None:
            return Outcome("failed-verification", f"the re-run exceeded the time limit of {cfg.time_limit_s:g} s and was killed")
        if code != 0:
            why = "killed by signal " + signal.Signals(-code).name if code < 0 else f"exited with code {code}"
            if "MemoryError" in tail or "std::bad_alloc" in tail or "Cannot allocate memory" in tail:
                why += f" (memory limit {cfg.memory_limit_gb:g} GiB)"
            return Outcome("failed-verification", f"the re-run {why}: {tail[-600:]}")
        found = sorted(out_dir.glob("*.json"))
        if len(found) != 1:
            return Outcome("failed-verification", f"the re-run wrote {len(found)} results files, expected 1")
        try:
            again = json.loads(found[0].read_bytes())
            validate_results(again)
        except (ValueError, SchemaError) as exc:
            return Outcome("failed-verification", f"the re-run's results file is malformed: {exc}")
        if again.get("secret_id") != secret_id(secret):
            return Outcome("failed-verification", "the re-run's results do not record the maintainers' secret")
        if R.seed_setting(again) != R.seed_setting(data) or again["env_id"] != data["env_id"] or again["episodes"] != data["episodes"]:
            return Outcome("failed-verification", "the re-run scored other settings than the submission")
        failed = [r for row in again["raw_rollouts"] for r in row if r.startswith(FAILED_PREFIX)]
        if failed:
            kinds = ", ".join(sorted({r[len(FAILED_PREFIX):] for r in failed}))
            why = f"the agent failed {len(failed)} trials of the re-run ({kinds})"
            if "MemoryError" in tail or "Cannot allocate memory" in tail:
                why += f" (memory limit {cfg.memory_limit_gb:g} GiB)"
            return Outcome("failed-verification", f"{why}: {tail[-600:]}")
        out = compare(data, again)
        return dataclasses.replace(out, rerun={**(out.rerun or {}), "eval_seed": eval_seed, "workers": again["workers"],
                                               "results_sha256": hashlib.sha256(found[0].read_bytes()).hexdigest()})


def verify(cfg: VerifyConfig, root: str | Path = board.LEADERBOARD_DIR, secret: str | None = None,
           public_key_path: Path = signing.PUBLIC_KEY_PATH) -> tuple[dict[str, str], Outcome]:
    """Re-run, sign and record: (the updated row, the outcome). Raises `board.Rejected` when the
    file is not a row on the board or cannot be verified (no file changes), `ValueError` when the
    maintainer's inputs (secret, key, artifacts) are missing."""
    from benchmark.sandbox import harden_process

    harden_process()  # this process will hold the secret, then the key
    paths = board.Paths(Path(root))
    data, raw = board.load_submission(Path(cfg.results))
    sha = hashlib.sha256(raw).hexdigest()
    with board.locked(paths):
        row = next((r for r in R.read_rows(paths.csv) if r["results_sha256"] == sha), None)
    if row is None:
        raise board.Rejected(f"{cfg.results} is not a row of the board at {paths.root}: submit it first")
    if row["protocol"] != "v1":
        raise board.Rejected(f"row {row['row_id']} is a protocol {row['protocol']} row (results schema "
                             f"{row['schema_version']}): it has no evaluation secret to verify against; rescore under protocol v1")
    if secret is None and cfg.eval_secret_file is not None:
        secret = read_secret_file(cfg.eval_secret_file)
    if not secret or secret in NAMED_SECRETS:
        raise ValueError("no evaluation secret: pass --eval-secret-file PATH (or - for stdin) holding the maintainers' "
                         "secret (not a public or development one)")
    from benchmark.sandbox import confinement_problem, readonly_paths

    problem = confinement_problem()
    if problem is not None:
        raise ValueError(f"verify runs submitted agents only in a sandbox: {problem}")
    key_path = signing.private_key_path(cfg.signing_key)
    readonly_paths([cfg.artifacts] if cfg.artifacts else [], forbidden=[key_path])  # refuses a key the sandbox would bind
    # the key is checked in a short-lived child, so this process holds no key while the agent runs
    if signing.public_pem_of(key_path) != Path(public_key_path).read_bytes():
        raise ValueError(f"the signing key does not match the public key {public_key_path}: `check` would reject its records")
    manifest = check_artifacts(Path(cfg.artifacts), data["agent_spec"]) if cfg.artifacts else None
    eval_seed = cfg.eval_seed if cfg.eval_seed is not None else secrets.randbits(31)
    outcome = rerun(data, cfg, secret, eval_seed)
    key = signing.load_private(key_path)  # only now: the re-run's session is gone (run_limited killed and reaped it)
    public = key.public_key()
    record = {
        "row_id": row["row_id"],
        "results_sha256": sha,
        "status": outcome.status,
        "reason": outcome.reason,
        "submitted": {"score": float(row["score"]), "ci": [float(row["score_ci_low"]), float(row["score_ci_high"])]},
        "rerun": outcome.rerun,
        "secret_id": secret_id(secret),
        "artifacts_sha256": hashlib.sha256(signing.canonical(manifest)).hexdigest() if manifest else None,
        "limits": {"time_s": cfg.time_limit_s, "memory_gb": cfg.memory_limit_gb},
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "key_id": signing.key_id(public),
    }
    updated = board.record_verification(paths.root, row["row_id"], signing.sign(record, key), outcome.status, sha)
    return updated, outcome
