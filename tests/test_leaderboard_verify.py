"""leaderboard verify: a re-run with the secret in a limited child process, signed records.

Rows here are tiny state-observation runs put on a scratch board with `board.add_row` (the public
board would refuse them as too small; verification does not care), re-run for real through the
harness. Agents that crash, hang or return malformed actions end as failed-verification with the
reason, and nothing but the record, the row's status and the pages changes.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from benchmark.results import write_json_atomic
from benchmark.run import evaluate
from leaderboard import board, cli, signing
from leaderboard import rows as R
from leaderboard.verify import VerifyConfig, verify
from test_leaderboard import fake_results, snapshot
from test_sandbox import _need_sandbox  # verify runs agents only in a bubblewrap sandbox

SECRET = "maintainers-test-secret"
AGENTS = textwrap.dedent('''
    """Misbehaving agents for the verification tests (untrusted code)."""
    import time

    import numpy as np


    class _Base:
        name = "bad"
        version = "1"
        uses_dataset = False

        def __init__(self, env_id=None, seed=0):
            pass

        def reset(self):
            pass


    class Crash(_Base):
        def act(self, obs, reward, episode_start):
            raise RuntimeError("boom: the agent crashed")


    class Hang(_Base):
        def act(self, obs, reward, episode_start):
            time.sleep(3600)


    class Hog(_Base):
        def act(self, obs, reward, episode_start):
            self.hoard = bytearray(64 * 2**30)


    class Malformed(_Base):
        def act(self, obs, reward, episode_start):
            return np.zeros(17, dtype=np.float32)
''')


@pytest.fixture
def keys(tmp_path):
    priv, pub = tmp_path / "keys" / "test.pem", tmp_path / "keys" / "test.pub"  # throwaway, never in the repo
    signing.generate(priv, pub)
    return priv, pub


def _put(root: Path, data: dict, path: Path) -> dict[str, str]:
    write_json_atomic(path, data)
    row, _ = board.add_row(root, data, path.read_bytes())
    return row


def _cfg(path: Path, keys, **kw) -> VerifyConfig:
    return VerifyConfig(results=str(path), signing_key=str(keys[0]), **({"workers": 1} | kw))


@pytest.mark.slow  # spawns processes
def test_an_honest_row_is_verified_and_signed(tmp_path, keys):
    _need_sandbox()
    root = tmp_path / "board"
    data = evaluate("scripted-explorer", "RefExp/TwoDrawer-v0", episodes=2, trials_per_task=8, training_seeds=(0, 1),
                    workers=1, progress=False, obs_type="state")
    path = tmp_path / "explorer.json"
    row = _put(root, data, path)
    before = snapshot(root)
    # two spawned harness workers, as maintainers run it (the workers re-import the launcher)
    updated, outcome = verify(_cfg(path, keys, eval_seed=123, workers=2), root, secret=SECRET, public_key_path=keys[1])
    assert outcome.status == "verified", outcome.reason
    assert updated["verification"] == "verified"
    signed = json.loads((root / "verifications" / f"{row['row_id']}.json").read_text())
    record = signing.verified_record(signed, signing.load_public(keys[1]))
    assert record["results_sha256"] == row["results_sha256"] and record["rerun"]["eval_seed"] == 123
    assert record["rerun"]["workers"] == 2
    assert record["secret_id"] != data["secret_id"]  # re-run with the maintainers' secret, not the public one
    assert SECRET not in json.dumps(signed)
    after = snapshot(root)
    assert {k for k in after if before.get(k) != after[k]} <= {
        "results.csv", "index.html", "README.md", "render.json", f"rows/{row['row_id']}.html",
        f"verifications/{row['row_id']}.json"}
    assert all(after[k] == v for k, v in before.items() if k.startswith("submissions/"))
    # a hand edit of the record's status or numbers breaks its signature
    signed["record"]["rerun"]["score"] = 0.0
    with pytest.raises(signing.SignatureError):
        signing.verified_record(signed, signing.load_public(keys[1]))
    # and the exact file is not verified twice without a new submission: re-verification just re-signs
    # (here through the command line, the secret read from a file)
    (tmp_path / "secret").write_text(SECRET + "\n")
    assert cli.main(["--dir", str(root), "verify", str(path), "--signing-key", str(keys[0]), "--public-key", str(keys[1]),
                     "--eval-seed", "7", "--workers", "1", "--eval-secret-file", str(tmp_path / "secret")]) == 0
    again = next(r for r in R.read_rows(root / "results.csv") if r["row_id"] == row["row_id"])
    assert again["verification"] == "verified"


@pytest.mark.slow  # spawns processes
@pytest.mark.parametrize("cls, words, limit", [
    ("Crash", "boom: the agent crashed", 300.0),
    ("Hang", "exceeded the time limit of 25 s", 25.0),
    ("Malformed", "agent.act returned an action of shape (17,)", 300.0),
    ("Hog", "memory limit 4 GiB", 300.0),
])
def test_a_bad_agent_fails_verification_and_changes_nothing_else(tmp_path, keys, cls, words, limit):
    _need_sandbox()
    art = tmp_path / "artifacts"
    art.mkdir()
    (art / "bad_agents.py").write_text(AGENTS)
    spec = f"bad_agents:{cls}"
    (art / "submission.json").write_text(json.dumps(
        {"agent_spec": spec, "files": {"bad_agents.py": hashlib.sha256(AGENTS.encode()).hexdigest()}}))
    root = tmp_path / "board"
    data = fake_results(agent="bad", version="1", dataset=None, spec=spec, trials_per_task=2, p=(0.5, 1.0))
    data = dict(data, obs_type="state")
    path = tmp_path / "bad.json"
    row = _put(root, data, path)
    before = snapshot(root)
    updated, outcome = verify(_cfg(path, keys, artifacts=str(art), time_limit_s=limit, memory_limit_gb=4.0), root, secret=SECRET,
                              public_key_path=keys[1])
    assert outcome.status == "failed-verification" and words in outcome.reason, outcome.reason
    assert updated["verification"] == "failed-verification"
    after = snapshot(root)
    rows_after = R.read_rows(root / "results.csv")
    assert [dict(r, verification=row["verification"]) for r in rows_after] == [row]  # only the status changed
    assert all(after[k] == v for k, v in before.items() if k.startswith("submissions/"))
    assert not [k for k in after if k.endswith(".tmp")]
    assert signing.verified_record(json.loads(after[f"verifications/{row['row_id']}.json"]),
                                   signing.load_public(keys[1]))["reason"] == outcome.reason


def test_verify_refuses_without_changing_files(tmp_path, keys, capsys):
    _need_sandbox()
    root = tmp_path / "board"
    path = tmp_path / "a.json"
    _put(root, fake_results(agent="a"), path)
    before = snapshot(root)
    other = tmp_path / "other.json"
    write_json_atomic(other, fake_results(agent="b"))
    base = ["--dir", str(root), "verify", "--signing-key", str(keys[0]), "--public-key", str(keys[1])]
    assert cli.main(base + [str(other)]) == 1
    assert "not a row of the board" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # no secret: a usage error, exit 2
        cli.main(base + [str(path)])
    assert exc.value.code == 2 and "--eval-secret-file" in capsys.readouterr().err
    (tmp_path / "public-secret").write_text("refexp-public-v1\n")
    with pytest.raises(SystemExit) as exc:  # the public secret verifies nothing
        cli.main(base + [str(path), "--eval-secret-file", str(tmp_path / "public-secret")])
    assert exc.value.code == 2 and "not a public or development one" in capsys.readouterr().err
    art = tmp_path / "art"
    art.mkdir()
    (art / "submission.json").write_text(json.dumps({"agent_spec": "a", "files": {"w.bin": "0" * 64}}))
    (art / "w.bin").write_bytes(b"weights")
    with pytest.raises(ValueError, match="w.bin has SHA-256"):
        verify(_cfg(path, keys, artifacts=str(art)), root, secret=SECRET, public_key_path=keys[1])
    wrong = tmp_path / "wrong"
    signing.generate(wrong / "k.pem", wrong / "k.pub")
    with pytest.raises(ValueError, match="does not match the public key"):
        verify(VerifyConfig(results=str(path), signing_key=str(wrong / "k.pem")), root, secret=SECRET,
               public_key_path=keys[1])
    assert snapshot(root) == before


def test_compare_verifies_overlap_and_flags_disagreement():
    from leaderboard.verify import compare

    sub = fake_results(agent="a", version="v1", p=(0.5, 1.0, 1.0), seeds=(0, 1, 2))
    same = fake_results(agent="a", version="v1", p=(0.5, 1.0, 1.0), seeds=(0, 1, 2), seed=9, eval_seed=5)
    worse = fake_results(agent="a", version="v1", p=(0.5, 0.5, 0.5), seeds=(0, 1, 2), seed=9, eval_seed=5)
    other = fake_results(agent="a", version="v2", p=(0.5, 1.0, 1.0), seeds=(0, 1, 2), seed=9, eval_seed=5)
    assert compare(sub, same).status == "verified"
    out = compare(sub, worse)
    assert out.status == "disagrees" and "does not overlap" in out.reason
    assert out.rerun["score"] < 0.5 < float(R.row_from_results(sub, "0" * 64)["score"])  # both numbers kept
    assert compare(sub, other).status == "disagrees" and "agent version v2" in compare(sub, other).reason


def test_a_protocol_v0_row_cannot_be_verified(tmp_path, keys):
    from test_leaderboard import REPO_BOARD

    row = next(r for r in R.read_rows(REPO_BOARD / "results.csv") if r["protocol"] == "v0")
    raw = (REPO_BOARD / "submissions" / f"{row['row_id']}.json").read_bytes()
    root = tmp_path / "board"
    board.add_row(root, json.loads(raw), raw)
    before = snapshot(root)
    path = root / "submissions" / f"{row['row_id']}.json"
    with pytest.raises(board.Rejected, match="protocol v0 row"):
        verify(_cfg(path, keys), root, secret=SECRET, public_key_path=keys[1])
    assert snapshot(root) == before
