"""Submitted agents run sealed off (issue 21): weights files load as data, an untrusted agent runs in
its own (bubblewrap-confined) process that gets only observations, rewards and its seed, and the
secret and the signing key are never in its reach. The hostile agents are in tests/hostile_agents.py.

Sandbox tests need bubblewrap: they skip with the reason where it is missing, and fail instead under
CI=true (CI installs it, as .ci/run does).
"""

from __future__ import annotations

import glob
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmark import sandbox

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = sorted(glob.glob(str(REPO / "refexp_baselines" / "checkpoints" / "*.pt")))
ENV = "RefExp/TwoDrawer-v1"


class _Payload:
    """Pickles to a call of os.system that writes a marker file: it must never run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _need_sandbox():
    problem = sandbox.confinement_problem()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no sandbox: {problem}")
        pytest.skip(problem)


# ------------------------------------------------------------------------------- weights are data
def test_every_shipped_bundle_loads_as_data():
    from refexp_baselines.agent import BUNDLE_FORMAT, load_bundle

    assert len(CHECKPOINTS) >= 10
    for path in CHECKPOINTS:
        assert load_bundle(path)["format"] == BUNDLE_FORMAT, path


def test_a_crafted_bundle_does_not_run_its_payload(tmp_path):
    import torch

    from refexp_baselines.agent import load_bundle

    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"format": "refexp-belief-agent-v1", "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="loadable as data.*posix.system"):
        load_bundle(path)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["crafted", "truncated", "foreign"])
def test_a_bad_bundle_is_a_one_line_usage_error(tmp_path, kind):
    import torch

    marker = tmp_path / "PWNED"
    path = tmp_path / f"{kind}.pt"
    if kind == "crafted":
        torch.save({"format": "refexp-belief-agent-v1", "x": _Payload(marker)}, path)
    elif kind == "truncated":
        path.write_bytes(Path(CHECKPOINTS[0]).read_bytes()[:5000])
    else:
        path.write_bytes(b"not a checkpoint at all")
    out = subprocess.run([sys.executable, "-m", "benchmark.run", "--agent", str(path), "--trials-per-task", "1",
                          "--out", str(tmp_path / "o"), "--no-progress", "--isolation", "process"],
                         capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    assert "not a RefExp agent bundle" in out.stderr.strip().splitlines()[-1]
    assert not marker.exists()


def _crafted_sb3_zip(path: Path, marker: Path) -> Path:
    """An SB3 model zip whose `policy_class` is a cloudpickled payload (as SB3 stores it): loading it
    with Stable-Baselines3 runs the payload."""
    import base64
    import json

    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", "__module__": "stable_baselines3.common.policies",
                             ":serialized:": base64.b64encode(pickle.dumps(_Payload(marker))).decode()}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data", json.dumps(data))
    return path


def test_a_crafted_sb3_zip_is_only_named_in_the_harness(tmp_path):
    """The harness reads only the zip's JSON to name the algorithm: nothing unpickles."""
    from benchmark.agents import sb3_algorithm

    marker = tmp_path / "PWNED"
    assert sb3_algorithm(_crafted_sb3_zip(tmp_path / "evil.zip", marker)).__name__ == "PPO"
    assert not marker.exists()


@pytest.mark.slow
def test_a_crafted_sb3_zip_runs_its_payload_only_inside_the_sandbox(tmp_path):
    _need_sandbox()
    from benchmark.agents import load_agent
    from benchmark.run import evaluate

    marker = tmp_path / "PWNED"
    path = _crafted_sb3_zip(tmp_path / "evil.zip", marker)
    with pytest.raises(Exception):  # it does not load as a model (in the sandbox, where its payload ran)
        evaluate(str(path), "RefExp/TwoDrawer-v0", episodes=1, trials_per_task=1, workers=1, progress=False,
                 obs_type="state", isolation="sandbox")
    assert not marker.exists()  # ... and nothing reached this machine's files
    with pytest.raises(Exception):  # the control: loaded here, SB3 unpickles it and the payload runs
        load_agent(str(path), "RefExp/TwoDrawer-v0")
    assert marker.exists()


# -------------------------------------------------------------------------------- the hostile agent
class _LoopbackServer:
    """A TCP server on 127.0.0.1 that counts the connections it accepts (the network attack's target)."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port, self.accepted, self._stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def _bg_processes(token: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and f"hostile-bg-{token}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(int(pid))
        except OSError:
            pass
    return out


@pytest.fixture
def hostile(tmp_path):
    """A hostile submission in tmp_path/art, a throwaway key, a file outside its bindings, a loopback
    server, a canary secret; afterwards, any process it left behind is killed (and reported)."""
    from hostile_agents import make_hostile_module

    token = os.urandom(6).hex()
    art, keys = tmp_path / "art", tmp_path / "keys"
    art.mkdir()
    keys.mkdir()
    from leaderboard import signing

    signing.generate(keys / "k.pem", keys / "k.pub")
    (tmp_path / "outside.txt").write_text("a file outside the sandbox's bindings")
    server = _LoopbackServer()
    secret = f"private-secret-{token}"
    targets = {"key": str(keys / "k.pem"), "outside": str(tmp_path / "outside.txt"),
               "leaderboard": str(REPO / "leaderboard"), "port": server.port, "canary": secret, "token": token,
               "num_drawers": 2}
    spec = make_hostile_module(art, targets)
    box = {"art": art, "keys": keys, "spec": spec, "token": token, "secret": secret, "server": server,
           "targets": targets, "module": (art / "hostile_submission.py")}
    yield box
    server.close()
    left = _bg_processes(token)
    for pid in left:
        os.kill(pid, 9)
    (REPO / "leaderboard" / f".hostile-{token}").unlink(missing_ok=True)


def _report(version: str) -> dict:
    return dict(part.split("=") for part in version.split(","))


def _never_knew_the_task(res) -> bool:
    """Every episode succeeds exactly when the task is 0: what an agent that opens drawer 0 gets."""
    succ, tasks = np.asarray(res["raw_successes"]), np.asarray(res["raw_tasks"])
    return bool(np.array_equal(succ, np.repeat((tasks == 0)[..., None], succ.shape[-1], axis=-1).astype(int)))


@pytest.mark.slow
def test_the_hostile_agent_gets_the_task_in_the_harness_process(tmp_path, hostile, monkeypatch):
    """The control: run beside the env (`--isolation none`, public secret), the attacks work, so the
    sandboxed run below failing them means something."""
    from benchmark.run import evaluate

    monkeypatch.syspath_prepend(str(hostile["art"]))
    res = evaluate(hostile["spec"], "RefExp/TwoDrawer-v0", episodes=2, trials_per_task=2, workers=1, progress=False,
                   obs_type="state", isolation="none")
    assert np.asarray(res["raw_successes"]).all()  # read the task: 1.00 / 1.00, above Bayes-optimal
    report = _report(res["agent_version"])
    assert report["key"] == "GOT" and report["outside"] == "GOT" and report["net"] == "GOT"
    assert hostile["server"].accepted > 0


@pytest.mark.slow
def test_in_the_sandbox_the_hostile_agent_gets_nothing(tmp_path, hostile):
    """The harness as a maintainer runs it (a private secret from a file, the key's path and a copy of
    the secret in its environment); the agent in the sandbox gets no task, secret, key, file, network,
    write access or lasting process: it scores what an agent that never knew the task scores."""
    _need_sandbox()
    secret_file = tmp_path / "secret"
    secret_file.write_text(hostile["secret"] + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOSTILE_CANARY": hostile["secret"],
           "REFEXP_SIGNING_KEY": hostile["targets"]["key"]}
    out = subprocess.run([sys.executable, "-m", "benchmark.run", "--agent", hostile["spec"], "--env", "RefExp/TwoDrawer-v0",
                          "--obs-type", "state", "--episodes", "2", "--trials-per-task", "3", "--workers", "1",
                          "--out", str(tmp_path / "out"), "--eval-secret-file", str(secret_file), "--no-progress"],
                         cwd=hostile["art"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    import json

    (path,) = (tmp_path / "out").glob("*.json")
    res = json.loads(path.read_text())
    report = _report(res["agent_version"])
    assert report == {"environ": "no", "mem": "no", "key": "no", "outside": "no", "leaderboard": "no", "net": "no",
                      "scratch": "GOT"}, report
    assert _never_knew_the_task(res) and not np.asarray(res["raw_successes"]).all()
    assert hostile["secret"] not in path.read_text() and hostile["secret"] not in out.stdout + out.stderr
    assert hostile["server"].accepted == 0
    assert not (REPO / "leaderboard" / f".hostile-{hostile['token']}").exists()
    assert _bg_processes(hostile["token"]) == []  # its pid namespace died with the sandbox


@pytest.mark.slow
def test_verify_neither_verifies_the_hostile_agent_nor_lets_it_touch_the_key(tmp_path, hostile):
    """The submitter's claim (made unconfined, reading the task) is re-run under verify in the sandbox:
    the re-run scores like an agent without the task, the outcome is not `verified`, and the agent
    could read neither the key nor the secret."""
    _need_sandbox()
    import hashlib
    import json
    import subprocess as sp

    from benchmark.results import write_json_atomic
    from leaderboard import board, signing
    from leaderboard.verify import VerifyConfig, verify

    claim = sp.run([sys.executable, "-c", (
        "import sys, json\nsys.path.insert(0, sys.argv[1])\nfrom benchmark.run import evaluate\n"
        "r = evaluate(sys.argv[2], 'RefExp/TwoDrawer-v0', episodes=2, trials_per_task=2, workers=1, progress=False, "
        "obs_type='state', isolation='none')\nprint(json.dumps(r))"), str(hostile["art"]), hostile["spec"]],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert claim.returncode == 0, claim.stderr
    data = json.loads(claim.stdout.strip().splitlines()[-1])
    assert np.asarray(data["raw_successes"]).all()  # the claim: 1.00 / 1.00
    for pid in _bg_processes(hostile["token"]):  # what the unconfined claim left behind (it could)
        os.kill(pid, 9)
    hostile["server"].accepted = 0
    root, path = tmp_path / "board", tmp_path / "hostile.json"
    write_json_atomic(path, data)
    row, _ = board.add_row(root, data, path.read_bytes())
    src = hostile["module"].read_text()
    (hostile["art"] / "submission.json").write_text(json.dumps(
        {"agent_spec": hostile["spec"], "files": {"hostile_submission.py": hashlib.sha256(src.encode()).hexdigest()}}))
    keys = hostile["keys"]
    cfg = VerifyConfig(results=str(path), signing_key=str(keys / "k.pem"), artifacts=str(hostile["art"]), workers=1,
                       eval_seed=5, time_limit_s=600.0)
    updated, outcome = verify(cfg, root, secret=hostile["secret"], public_key_path=keys / "k.pub")
    assert outcome.status != "verified" and updated["verification"] != "verified", outcome
    report = _report(outcome.rerun["agent_version"])
    assert report["key"] == "no" and report["environ"] == "no" and report["mem"] == "no", report
    assert outcome.rerun["score"] < float(row["score"])
    record = signing.verified_record(json.loads((root / "verifications" / f"{row['row_id']}.json").read_text()),
                                     signing.load_public(keys / "k.pub"))
    assert record["status"] == outcome.status and hostile["secret"] not in json.dumps(record)
    assert hostile["server"].accepted == 0 and _bg_processes(hostile["token"]) == []


# --------------------------------------------------------------------------- process isolation
MISBEHAVING = '''
import os, time
import numpy as np


class Slow:
    name, version, uses_dataset = "slow", "1", False

    def __init__(self, env_id=None, seed=0):
        pass

    def reset(self):
        pass

    def act(self, obs, reward, episode_start):
        time.sleep(30)


class Crash(Slow):
    def act(self, obs, reward, episode_start):
        os._exit(3)


class Privileged(Slow):
    uses_task = True

    def set_task(self, task):
        pass
'''


@pytest.mark.slow
@pytest.mark.parametrize("cls, kind", [("Slow", "timeout"), ("Crash", "crash")])
def test_an_agent_that_times_out_or_crashes_fails_its_trials_and_the_results_say_so(tmp_path, monkeypatch, cls, kind):
    from benchmark.run import evaluate
    from benchmark.schema import validate_results

    (tmp_path / "misbehaving.py").write_text(MISBEHAVING)
    monkeypatch.syspath_prepend(str(tmp_path))
    res = evaluate(f"misbehaving:{cls}", "RefExp/TwoDrawer-v0", episodes=1, trials_per_task=3, workers=1, progress=False,
                   obs_type="state", isolation="process", act_timeout_s=1.0, batch=1)
    validate_results(res)
    rollouts = res["raw_rollouts"][0]
    assert len(rollouts) == 6 and not np.asarray(res["raw_successes"]).any()
    # three failures restart the agent; then the runner gives up on it
    assert rollouts[:3] == [f"failed:{kind}"] * 3 and set(rollouts[3:]) == {"failed:gave-up"}


def test_an_untrusted_agent_is_never_given_the_task(tmp_path, monkeypatch):
    from benchmark.run import evaluate

    (tmp_path / "misbehaving.py").write_text(MISBEHAVING)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="never given the task"):
        evaluate("misbehaving:Privileged", "RefExp/TwoDrawer-v0", episodes=1, trials_per_task=1, workers=1,
                 progress=False, obs_type="state", isolation="process")


@pytest.mark.slow
def test_a_sandboxed_bundle_keeps_its_batching_and_its_actions(tmp_path):
    """The reference bundle scored from a file (sandboxed, batched across the pipe) plays the same
    rollouts as the shipped name (in-process), pixel observations, no GL in the agent's process."""
    _need_sandbox()
    from benchmark.run import evaluate

    bundle = str(REPO / "refexp_baselines" / "checkpoints" / "two-drawer-v1-ours.pt")
    kw = dict(episodes=1, trials_per_task=2, workers=1, progress=False, batch=4)
    inside = evaluate(bundle, ENV, isolation="sandbox", **kw)
    trusted = evaluate("ours", ENV, **kw)
    assert inside["raw_rollouts"] == trusted["raw_rollouts"] and inside["raw_successes"] == trusted["raw_successes"]
    assert inside["agent_version"] == trusted["agent_version"]


def test_the_wire_format_carries_batches_of_dict_observations():
    rng = np.random.default_rng(0)
    obs = [{"pixels": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "proprio": rng.normal(size=4).astype(np.float32)}
           for _ in range(3)]
    head, arrays = sandbox._encode_obs(obs)
    back = sandbox._decode_obs(head, memoryview(b"".join(a.tobytes() for a in arrays)))
    assert len(back) == 3 and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for a, b in zip(obs, back) for k in a)


def test_untrusted_agents_are_refused_where_they_cannot_be_confined(monkeypatch, tmp_path):
    from benchmark.protocol import PUBLIC_SECRET
    from benchmark.run import resolve_isolation

    assert resolve_isolation("scripted-explorer", "sandbox", "private", "ray") == "none"  # trusted: in-process
    with pytest.raises(ValueError, match="Ray backend does not run untrusted agents"):
        resolve_isolation("my_agent:Agent", "auto", PUBLIC_SECRET, "ray")
    with pytest.raises(ValueError, match="beside a private secret"):
        resolve_isolation("my_agent:Agent", "none", "private", "local")
    with pytest.raises(ValueError, match="unconfined: refused with a private secret"):
        resolve_isolation("my_agent:Agent", "process", "private", "local")
    monkeypatch.setattr(sandbox, "bwrap_executable", lambda: None)
    warned = []
    assert resolve_isolation("a.pt", "auto", PUBLIC_SECRET, warn=warned.append) == "process"
    assert "apt-get install -y bubblewrap" in warned[0] and "unconfined" in warned[0]
    with pytest.raises(ValueError, match="apt-get install -y bubblewrap"):
        resolve_isolation("a.pt", "sandbox", PUBLIC_SECRET)
    with pytest.raises(ValueError, match="only in a sandbox"):
        resolve_isolation("a.pt", "auto", "private")


def test_verify_refuses_without_a_sandbox(monkeypatch, tmp_path):
    from leaderboard import board
    from leaderboard.verify import VerifyConfig, verify
    from test_leaderboard import fake_results

    from benchmark.results import write_json_atomic

    root, path = tmp_path / "board", tmp_path / "a.json"
    write_json_atomic(path, fake_results(agent="a"))
    board.add_row(root, __import__("json").loads(path.read_text()), path.read_bytes())
    monkeypatch.setattr(sandbox, "bwrap_executable", lambda: None)
    with pytest.raises(ValueError, match="only in a sandbox: bubblewrap is not installed.*apt-get install"):
        verify(VerifyConfig(results=str(path), signing_key=str(tmp_path / "k.pem")), root, secret="private")


def test_the_sandbox_never_binds_home_or_a_key(tmp_path):
    key = tmp_path / "keys" / "k.pem"
    with pytest.raises(ValueError, match="holds a key"):
        sandbox.readonly_paths([tmp_path], forbidden=[key])
    with pytest.raises(ValueError, match="home folder"):
        sandbox.readonly_paths([Path.home()])
    (tmp_path / "art").mkdir()
    paths = sandbox.readonly_paths([tmp_path / "art"], forbidden=[key])
    assert str(REPO) in paths and str(tmp_path / "art") in paths


def test_the_harness_is_not_dumpable():
    code = ("from benchmark import sandbox\nbefore = sandbox.is_dumpable()\nsandbox.harden_process()\n"
            "print(before, sandbox.is_dumpable())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.split() == ["True", "False"], out.stderr


@pytest.mark.slow
def test_a_private_secret_is_read_from_a_file_or_stdin_never_the_command_line(tmp_path):
    from benchmark.protocol import secret_id

    secret = "a-private-secret-" + os.urandom(4).hex()
    base = [sys.executable, "-m", "benchmark.run", "--agent", "always-first", "--env", "RefExp/TwoDrawer-v0",
            "--obs-type", "state", "--episodes", "1", "--trials-per-task", "1", "--workers", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(base + ["--out", str(tmp_path / "a"), "--eval-secret-file", "-"], input=secret + "\n",
                         capture_output=True, text=True, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    import json

    (res,) = [json.loads(p.read_text()) for p in (tmp_path / "a").glob("*.json")]
    assert res["secret_id"] == secret_id(secret)
    out = subprocess.run(base + ["--out", str(tmp_path / "b"), "--eval-secret", secret], capture_output=True, text=True,
                         cwd=REPO, env=env)
    assert out.returncode == 2 and "--eval-secret-file" in out.stderr


def test_a_secret_file_the_agents_sandbox_could_read_is_refused(tmp_path, capsys):
    from benchmark.run import config_from_args

    base = ["--agent", "refexp_baselines.families.rl2:RL2Agent", "--env", "RefExp/TwoDrawer-v1"]
    with pytest.raises(SystemExit) as exc:  # the repository is bound read-only into the sandbox
        config_from_args(base + ["--eval-secret-file", str(REPO / "runs" / "secret")])
    assert exc.value.code == 2 and "the agent's sandbox can read" in capsys.readouterr().err
    assert config_from_args(base + ["--eval-secret-file", str(tmp_path / "secret")]).eval_secret_file == str(tmp_path / "secret")
    assert config_from_args(base + ["--eval-secret-file", "-"]).eval_secret_file == "-"


def test_the_agents_online_steps_are_recorded_only_as_a_plain_count():
    from benchmark.sandbox import AgentFailure, _check_meta

    base = {"name": "a", "version": "1", "eligible": True, "uses_dataset": False, "trained_env_id": None}
    assert _check_meta({**base, "online_steps": 1000})["online_steps"] == 1000
    assert _check_meta(base)["online_steps"] is None
    for bad in ("1000", -1, True, 2**70, 1.5):
        with pytest.raises(AgentFailure, match="malformed"):
            _check_meta({**base, "online_steps": bad})
