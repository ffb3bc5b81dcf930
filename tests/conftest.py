"""Shared test setup: headless rendering before anything imports mujoco; a quiet run that leaves
nothing in the checkout."""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
# episodes collected on the fly (`--dataset local:N`) are cached here, not in the checkout's runs/;
# subprocesses (spawned workers, CLI tests) inherit it
_DATA_CACHE = tempfile.mkdtemp(prefix="refexp-test-data-")
os.environ["REFEXP_DATA_CACHE"] = _DATA_CACHE

import gymnasium.logger  # noqa: E402

# Gymnasium colours its warnings with ANSI codes, which a test report shows raw: plain text here
gymnasium.logger.colorize = lambda string, color, bold=False, highlight=False: string
_seen: set[str] = set()


def _deprecation_once(msg: str, *args: object) -> None:
    """Each of Gymnasium's deprecation warnings once per test run (the v0 envs' "out of date"
    warning is expected: v0 stays registered and tested; pytest resets warning registries per test)."""
    text = msg % args
    if text not in _seen:
        _seen.add(text)
        warnings.warn(f"WARN: {text}", DeprecationWarning, stacklevel=2)  # located at Gymnasium's caller


gymnasium.logger.deprecation = _deprecation_once

import refexp_envs  # noqa: E402,F401  (registers RefExp/* ids)

ROOT = Path(__file__).resolve().parents[1]
_SKIP = {".git", "__pycache__", ".pytest_cache"}


def _checkout_files() -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in _SKIP and not d.endswith(".egg-info")]
        out.update(os.path.relpath(os.path.join(dirpath, f), ROOT) for f in filenames)
    return out


def pytest_sessionstart(session):
    session.config._refexp_files_before = _checkout_files()


def pytest_sessionfinish(session, exitstatus):
    """A test that leaves a file in the checkout (runs/data/*.npz, results/...) fails the run."""
    shutil.rmtree(_DATA_CACHE, ignore_errors=True)
    before = getattr(session.config, "_refexp_files_before", None)
    if before is None:
        return
    left = sorted(_checkout_files() - before)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = f"tests left {len(left)} file(s) in the checkout (use tmp_path): " + ", ".join(left[:10])
        if reporter is not None:
            reporter.write_line(text, red=True)
        if session.exitstatus == 0:
            session.exitstatus = 1
