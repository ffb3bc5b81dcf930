"""The command lines of refexp_envs and leaderboard (issue 14, items 4-8): each names itself as a
user types it, shows its defaults, exits 2 on a usage error and 1 on a runtime failure, and says
what to do next.

Each test runs the command as a user types it, in a new process (~0.3 s each here): the quick tier
keeps one command per behaviour (`quick_only`), the slow tier the rest."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiers import quick_only

ROOT = Path(__file__).resolve().parents[1]
TWO_DEV = "refexp/two-drawer/dev-v0"


def run(*args, env=None, **kw):
    """`python -m ARGS` from the repository root, at 80 columns; (returncode, stdout, stderr)."""
    full_env = {**os.environ, "COLUMNS": "80", "MUJOCO_GL": "egl", **(env or {})}
    p = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
                       timeout=120, **kw)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def empty_root(tmp_path):
    return {"MINARI_DATASETS_PATH": str(tmp_path / "minari")}


HELP_DEFAULTS = [
    ("refexp_envs", [], "(default: 3)"),
    ("refexp_envs.datasets", ["build"], "(default: 0)"),
    ("refexp_envs.datasets", ["bench"], "(default: 32)"),
    ("refexp_envs.gallery", [], "(default: 3)"),
    ("leaderboard", ["check"], "(default: "),
    ("refexp_baselines.data", ["bench-loading"], "(default: 200)"),
]


@pytest.mark.parametrize("module, sub, default", quick_only(HELP_DEFAULTS, quick=[HELP_DEFAULTS[1]]))
def test_help_names_the_command_and_shows_defaults(module, sub, default):
    rc, out, _ = run(module, *sub, "--help")
    assert rc == 0
    assert out.startswith(f"usage: python -m {' '.join([module, *sub])} ")
    assert default in " ".join(out.split())  # help lines rewrapped as one (a long path may wrap)


@pytest.mark.parametrize("module", quick_only(["benchmark.run", "refexp_baselines.train", "leaderboard",
                                               "refexp_envs.datasets", "benchmark.plot", "refexp_baselines.report"],
                                              quick=["leaderboard"]))
def test_help_never_says_default_none_or_twice(module):
    rc, out, _ = run(module, "--help")
    assert rc == 0
    text = " ".join(out.split())  # help lines rewrapped as one
    assert "(default: None)" not in text and "(default: False)" not in text
    for entry in re.split(r"\s(?=--?[a-z])", text):  # one flag's help at a time
        assert entry.count("default") <= 1, entry
    assert "Exit status: 0" in text  # every command says its exit codes


@pytest.mark.slow
def test_help_of_a_required_option_and_the_train_example():
    _, out, _ = run("benchmark.run", "--help")
    agent = " ".join(out.split("--agent AGENT", 2)[2].split("--env")[0].split())
    assert "default" not in agent  # required: no default to show
    _, out, _ = run("refexp_baselines.train", "--help")
    assert "python -m refexp_baselines.train --agent ours --env RefExp/TwoDrawer-v1" in out  # the current version
    _, out, _ = run("leaderboard", "--help")
    assert "2 usage error" in " ".join(out.split())


USAGE_ERRORS = [
    (["refexp_envs.datasets", "info", "refexp/nope/expert-v0"], "unknown dataset id"),
    (["refexp_envs.datasets", "bench", TWO_DEV, "--batch", "0"], "--batch: must be >= 1"),
    (["refexp_envs.datasets", "build", TWO_DEV, "--workers", "-1"], "--workers: must be >= 0"),
    (["refexp_envs.datasets", "frobnicate"], "invalid choice"),
    (["refexp_envs", "--episodes", "0"], "--episodes: must be >= 1"),
    (["refexp_envs", "--env", "RefExp/NoSuch-v0"], "invalid choice"),
    (["refexp_envs", "--noise", "-1"], "--noise must be >= 0"),
    (["refexp_envs.gallery", "--scale", "0"], "--scale and --seeds must be >= 1"),
    (["leaderboard", "publish"], "invalid choice"),
    (["leaderboard", "submit", "no/such/results.json"], "no results file at no/such/results.json"),
    (["refexp_baselines.data", "collect", "RefExp/NoSuch-v0", "3"], "invalid choice"),
]


@pytest.mark.parametrize("args, message", quick_only(USAGE_ERRORS, quick=[USAGE_ERRORS[0], USAGE_ERRORS[9]]))
def test_usage_errors_exit_2_with_the_usage_line(args, message, empty_root):
    rc, out, err = run(*args, env=empty_root)
    assert rc == 2
    assert err.startswith(f"usage: python -m {args[0]}")
    assert message in err
    assert "Traceback" not in err


def test_an_unknown_id_is_refused_before_the_simulator_is_imported():
    code = ("import sys; from refexp_envs.datasets.cli import main; rc = main(['verify', 'refexp/nope-v0']); "
            "print(rc, sorted(m for m in ('mujoco', 'metaworld', 'minari', 'torch') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.stdout.split("\n")[0] == "2 []"


@pytest.mark.slow
def test_list_fits_80_columns_and_has_wide_and_json_forms(empty_root):
    from refexp_envs.datasets.registry import REGISTRY

    rc, out, _ = run("refexp_envs.datasets", "list", env=empty_root)
    assert rc == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out  # nothing truncated
    for dataset_id, spec in REGISTRY.items():
        row = next(line for line in lines if f" {dataset_id} " in line)
        assert f" {spec.episodes_per_task} " in row
    assert "--wide" in out and "--json" in out

    rc, wide, _ = run("refexp_envs.datasets", "list", "--wide", env=empty_root)
    assert rc == 0 and "…" not in wide
    for spec in REGISTRY.values():
        assert spec.env_id in wide and (spec.sha256 or "unpublished") in wide  # an unpinned id says so

    rc, text, _ = run("refexp_envs.datasets", "list", "--json", env=empty_root)
    rows = {r["dataset_id"]: r for r in json.loads(text)}
    assert rows.keys() == REGISTRY.keys()
    spec = REGISTRY[TWO_DEV]
    assert rows[TWO_DEV]["sha256"] == spec.sha256 and rows[TWO_DEV]["env_id"] == spec.env_id
    assert rows[TWO_DEV]["local"] == "-"
    assert rows[TWO_DEV]["path"] == str(Path(empty_root["MINARI_DATASETS_PATH"]) / TWO_DEV)


def test_verify_of_a_missing_dataset_exits_1_and_suggests_build_and_download(empty_root):
    rc, _, err = run("refexp_envs.datasets", "verify", TWO_DEV, env=empty_root)
    assert rc == 1
    assert f"python -m refexp_envs.datasets build {TWO_DEV}" in err
    assert f"python -m refexp_envs.datasets download {TWO_DEV}" in err
    assert err.index(" build ") < err.index(" download ")  # build first: it always works
    assert "Traceback" not in err


@pytest.mark.slow
def test_download_of_a_present_dataset_says_so_and_how_to_force(empty_root):
    # a complete dataset directory as far as `download` can tell (metadata + build record)
    path = Path(empty_root["MINARI_DATASETS_PATH"]) / TWO_DEV
    (path / "data").mkdir(parents=True)
    (path / "data" / "metadata.json").write_text("{}")
    (path / "refexp.json").write_text("{}")
    rc, out, err = run("refexp_envs.datasets", "download", TWO_DEV, "--url", "http://127.0.0.1:9", env=empty_root)
    assert rc == 0
    assert "already present" in err and str(path) in err
    assert f"python -m refexp_envs.datasets download {TWO_DEV} --force" in err
    rc, out, err = run("refexp_envs.datasets", "download", TWO_DEV, "--quiet", env=empty_root)
    assert rc == 0 and err == ""


@pytest.mark.slow
def test_demo_shows_progress_and_prints_the_table():
    # rich draws progress only on an interactive terminal; these variables make it draw here
    rc, out, err = run("refexp_envs", "--env", "RefExp/TwoDrawer-v0", "--episodes", "1",
                       env={"COLUMNS": "100", "TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"})
    assert rc == 0
    plain = lambda text: re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # noqa: E731
    assert "RefExp/TwoDrawer-v0" in plain(err) and "4/4 episodes" in plain(err)  # the bar, on stderr
    rows = [line for line in plain(out).splitlines() if "RefExp/TwoDrawer-v0" in line]
    assert len(rows) == 4  # (policy, task) in {0, 1}^2
    assert [r.split("│")[4].strip() for r in rows] == ["1.00", "0.00", "0.00", "1.00"]


@pytest.mark.slow
@pytest.mark.parametrize("module", ["refexp_baselines.train", "refexp_baselines.sweep"])
def test_training_clis_run_as_typed_and_refuse_an_unknown_env(module):
    """`python -m` runs the module as __main__, whose usage checks run before the heavy imports."""
    rc, out, err = run(module, "--help")
    assert rc == 0 and f"python -m {module}" in out
    flag = "--env" if module.endswith("train") else "--envs"
    rc, _, err = run(module, flag, "RefExp/Nope-v9")
    assert rc == 2 and "RefExp/Nope-v9" in err
