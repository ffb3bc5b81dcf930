"""A hostile submission (issue 21): an agent that tries every attack a submitter tried on the harness.

`HostileAgent` acts as `always-first` does (it opens drawer 0) unless one of its attacks finds the
hidden task, then it opens the task's drawer (an agent that reads the task scores 1.0 in every
episode). Attacks when it is built: read the harness's environment and command line through
/proc (looking for `TARGETS["canary"]`, planted in the harness's environment), open other processes'
memory, read the signing key and a file outside its bindings, write into the repository's
leaderboard/, connect to a server on loopback, and leave a process running (its command line
carries `TARGETS["token"]`). Attacks in `act`: walk the caller's frames (`inspect`) and the heap
(`gc.get_objects()`) for the env, a `TrialSpec` or anything with a `task`.

What it got is reported in its `version` (`key=no,environ=no,...`; `GOT` for a success), which the
harness records in the results file. A test subclasses it with `TARGETS` filled in
(`make_hostile_module`), since the agent receives nothing from the harness but observations.
"""

from __future__ import annotations

import gc
import inspect
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from refexp_envs.policies import ScriptedDrawerPolicy


def _try(fn) -> str:
    try:
        return "GOT" if fn() else "no"
    except Exception:  # noqa: BLE001  (denied, missing, refused: the attack failed)
        return "no"


class HostileAgent:
    name = "hostile"
    uses_dataset = False
    TARGETS: dict = {}  # key, outside, leaderboard, port, canary, token, num_drawers

    def __init__(self, env_id=None, seed=0):
        t = self.TARGETS
        self.n = int(t.get("num_drawers", 2))
        self.policies = [ScriptedDrawerPolicy(i, self.n) for i in range(self.n)]
        self.task = None
        report = {
            "environ": _try(lambda: self._scan_proc(("environ", "cmdline"), t["canary"].encode())),
            "mem": _try(self._open_other_memory),
            "key": _try(lambda: Path(t["key"]).read_bytes()),
            "outside": _try(lambda: Path(t["outside"]).read_bytes()),
            "leaderboard": _try(lambda: self._write(Path(t["leaderboard"]) / f".hostile-{t['token']}")),
            "net": _try(lambda: socket.create_connection(("127.0.0.1", int(t["port"])), timeout=2).close() or True),
            "scratch": _try(lambda: self._write(Path(os.environ.get("HOME", "/nonexistent")) / "scratch-file")),
        }
        self._leave_a_process(t["token"])
        self.version = ",".join(f"{k}={v}" for k, v in report.items())

    # ---------------------------------------------------------------------------- build-time attacks
    @staticmethod
    def _scan_proc(files, needle: bytes) -> bool:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            for name in files:
                try:
                    if needle in Path(f"/proc/{pid}/{name}").read_bytes():
                        return True
                except OSError:
                    pass
        return False

    @staticmethod
    def _open_other_memory() -> bool:
        """Read a byte of another process's memory (the harness's, where the secret lives)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) in (os.getpid(), 1):
                continue
            try:
                first = Path(f"/proc/{pid}/maps").read_text().splitlines()[0]
                start = int(first.split("-")[0], 16)
                with open(f"/proc/{pid}/mem", "rb") as fh:
                    fh.seek(start)
                    if fh.read(1):
                        return True
            except (OSError, IndexError, ValueError):
                pass
        return False

    @staticmethod
    def _write(path: Path) -> bool:
        path.write_text("written by a hostile agent")
        return path.exists()

    @staticmethod
    def _leave_a_process(token: str) -> None:
        """A detached grandchild in its own session, meant to outlive the run."""
        code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
        try:
            subprocess.Popen([sys.executable, "-c", code, f"hostile-bg-{token}"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            pass

    # -------------------------------------------------------------------------------- act-time attacks
    @staticmethod
    def _task_of(obj):
        """The hidden task held by `obj` (an env, a wrapper, a TrialSpec), else None."""
        for attempt in (lambda: obj.unwrapped.task, lambda: obj.task):
            try:
                task = attempt()
            except Exception:  # noqa: BLE001
                continue
            if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
                return int(task)
        return None

    def _find_task(self):
        frame = inspect.currentframe()
        while frame is not None:  # the callers' frames: run_trial's `spec` and `env`
            for value in list(frame.f_locals.values()):
                if type(value).__name__ in ("TrialSpec", "DrawersEnv", "TimeLimit", "OrderEnforcing", "PassiveEnvChecker"):
                    task = self._task_of(value)
                    if task is not None:
                        return task
            frame = frame.f_back
        for obj in gc.get_objects():  # the heap: any env or trial spec in this process
            if type(obj).__name__ in ("TrialSpec", "DrawersEnv"):
                task = self._task_of(obj)
                if task is not None:
                    return task
        return None

    def reset(self):
        self.task = None

    def act(self, obs, reward, episode_start):
        if self.task is None:
            self.task = self._find_task()
        return self.policies[self.task if self.task is not None else 0](obs)


def make_hostile_module(folder: Path, targets: dict, module: str = "hostile_submission") -> str:
    """Write `folder/<module>.py`, a subclass of `HostileAgent` with `targets`; returns its agent spec."""
    here = Path(__file__).resolve()
    (folder / f"{module}.py").write_text(
        "import importlib.util\n"
        f"_spec = importlib.util.spec_from_file_location('hostile_agents', {str(here)!r})\n"
        "_mod = importlib.util.module_from_spec(_spec)\n_spec.loader.exec_module(_mod)\n\n\n"
        "class Agent(_mod.HostileAgent):\n"
        f"    TARGETS = {targets!r}\n")
    return f"{module}:Agent"
