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


def test_a_crafted_sb3_zip_does_not_run_in_the_harness(tmp_path):
    """An SB3 zip holds cloudpickled objects: the harness reads only its JSON to name the algorithm, and
    the model itself loads only inside the agent's process."""
    from benchmark.agents import sb3_algorithm

    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.zip"
    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": pickle.dumps(_Payload(marker)).hex(),
                             "__module__": "stable_baselines3.common.policies"}}
    with zipfile.ZipFile(path, "w") as zf:
        import json

        zf.writestr("data", json.dumps(data))
    assert sb3_algorithm(path).__name__ == "PPO"
    assert not marker.exists()
