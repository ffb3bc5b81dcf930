"""Agents for tests/test_ray.py, importable by Ray workers (their cwd is the repository root)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmark.agents import RandomAgent

PID_DIR = Path(tempfile.gettempdir()) / "refexp-ray-kill-test"


class PidRandomAgent(RandomAgent):
    """`random`, a little slower, announcing its process id in PID_DIR at every trial (so a test
    can kill the process mid-run)."""

    name = "pid-random"

    def reset(self) -> None:
        super().reset()
        if PID_DIR.is_dir():
            (PID_DIR / str(os.getpid())).touch()

    def act(self, obs, reward, episode_start):
        time.sleep(0.002)
        return super().act(obs, reward, episode_start)
