"""Issue 26: what rendered a dataset or a results file, the canonical renderer switch, a verify that
tells a renderer mismatch from corruption, the parallel build tail, and the per-stage device rule."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.build import build_dataset
from refexp_envs.datasets.cli import main as cli_main
from refexp_envs.datasets.registry import PIN_RENDERER, REGISTRY
from refexp_envs.render import RENDERER_ENV, RendererError, select_renderer

TINY = "refexp/two-drawer/tiny-provenance-v1"
REPO = Path(__file__).resolve().parents[1]


def _spec(**kw):
    pins = {"sha256": None, "nonpixel_sha256": None, **kw}
    return dataclasses.replace(REGISTRY["refexp/two-drawer/dev-v1"], dataset_id=TINY, episodes_per_task=2, horizon=6,
                               **pins)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny dataset built in this process with its pixel cache (the assembly tail that worker
    processes run: test_a_two_worker_build_gives_the_same_bytes_and_cache)."""
    path = tmp_path_factory.mktemp("built")
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    REGISTRY[TINY] = _spec()
    try:
        build_dataset(TINY, workers=1, progress=False, shard_size=1)
    finally:
        REGISTRY.pop(TINY)
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = old
    return path


@pytest.fixture
def root(built, tmp_path, monkeypatch):
    shutil.copytree(built, tmp_path / "minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setitem(REGISTRY, TINY, _spec())
    return tmp_path / "minari"


# ------------------------------------------------------------------------------------ the switch
def test_select_renderer_sets_the_gl_variables_and_refuses_bad_values(tmp_path):
    vendor = tmp_path / "50_mesa.json"
    vendor.write_text("{}")
    env = {RENDERER_ENV: "llvmpipe", "__EGL_VENDOR_LIBRARY_FILENAMES": str(vendor), "GALLIUM_DRIVER": "softpipe"}
    assert select_renderer(env) == "llvmpipe"
    assert env["__EGL_VENDOR_LIBRARY_FILENAMES"] == str(vendor)  # the user's own settings win
    assert env["GALLIUM_DRIVER"] == "softpipe" and env["LIBGL_ALWAYS_SOFTWARE"] == "1"
    assert env["LP_NATIVE_VECTOR_WIDTH"] == "256"
    plain = {}
    assert select_renderer(plain) is None and plain == {}  # unset: the driver's choice, nothing touched
    with pytest.raises(RendererError, match="must be 'llvmpipe' or unset"):
        select_renderer({RENDERER_ENV: "nvidia"})
    with pytest.raises(RendererError, match="needs MUJOCO_GL=egl"):
        select_renderer({RENDERER_ENV: "llvmpipe", "MUJOCO_GL": "glfw"})


def test_a_renderer_other_than_the_chosen_one_is_refused(monkeypatch):
    """With REFEXP_RENDERER=llvmpipe a context that reports another renderer (as a GPU driver that
    glvnd picked would) is an error when the env makes it, not a silent fallback."""
    import gymnasium as gym

    import refexp_envs.render as render

    monkeypatch.setenv(RENDERER_ENV, "llvmpipe")
    monkeypatch.setattr(render, "_gl_strings", lambda: {"vendor": "NVIDIA Corporation",
                                                        "renderer": "NVIDIA H200/PCIe/SSE2", "version": "4.6.0"})
    with pytest.raises(RendererError, match="the GL renderer is 'NVIDIA H200/PCIe/SSE2'"):
        gym.make("RefExp/TwoDrawer-v1").reset(seed=0)


def _gl_in_subprocess(env: dict) -> subprocess.CompletedProcess:
    code = ("import json, numpy as np, gymnasium as gym, refexp_envs\n"
            "from refexp_envs.render import gl_info\n"
            "e = gym.make('RefExp/TwoDrawer-v1'); o, _ = e.reset(seed=3)\n"
            "print(json.dumps({**gl_info(), 'frame': o['pixels'].tobytes().hex()}))\n")
    clean = {k: v for k, v in os.environ.items() if k not in (RENDERER_ENV, "__EGL_VENDOR_LIBRARY_FILENAMES")}
    full = {**clean, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


@pytest.mark.slow
def test_the_llvmpipe_switch_reaches_the_gl_loader_and_renders_the_pinned_bytes():
    """REFEXP_RENDERER=llvmpipe: the renderer string says llvmpipe and the frame is the default one
    (this machine renders with llvmpipe anyway); a vendor file that does not exist stops EGL, which
    shows that the variables reach glvnd before the first context."""
    plain = _gl_in_subprocess({})
    chosen = _gl_in_subprocess({RENDERER_ENV: "llvmpipe"})
    assert plain.returncode == 0 and chosen.returncode == 0, plain.stderr + chosen.stderr
    a, b = json.loads(plain.stdout), json.loads(chosen.stdout)
    assert "llvmpipe" in b["renderer"] and b[RENDERER_ENV] == "llvmpipe" and b["mujoco"]
    assert a["frame"] == b["frame"]
    broken = _gl_in_subprocess({RENDERER_ENV: "llvmpipe", "__EGL_VENDOR_LIBRARY_FILENAMES": "/nonexistent/50_mesa.json"})
    assert broken.returncode != 0 and "RendererError" in broken.stderr


# ------------------------------------------------------------------------- datasets: provenance
def test_the_sidecar_records_the_renderer_and_both_checksums(root):
    from refexp_envs.render import gl_info

    out = ck.dataset_path(TINY)
    side = ck.read_sidecar(out)
    here = gl_info()
    assert {k: side["renderer"][k] for k in ("vendor", "renderer", "version", "mujoco")} == \
        {k: here[k] for k in ("vendor", "renderer", "version", "mujoco")}
    assert side["sha256"] == ck.checksum_dir(out)  # the streamed digests are the checksum of the files
    assert side["nonpixel_sha256"] == ck.nonpixel_checksum_dir(out)
    assert not (ck.datasets_root() / ck.STAGING_DIR).exists()


def test_the_parallel_tail_writes_the_cache_that_build_cache_writes(root):
    from refexp_envs.datasets.buffers import build_cache, cache_damage

    cdir = ck.cache_path(TINY)
    written = json.loads((cdir / "cache.json").read_text())
    assert cache_damage(TINY, full=True) == []
    shutil.rmtree(cdir)
    build_cache(TINY)  # from the parquet files, one episode after another
    assert json.loads((cdir / "cache.json").read_text()) == written


@pytest.mark.slow  # spawns worker processes
def test_a_two_worker_build_gives_the_same_bytes_and_cache(root):
    one = ck.checksum_dir(ck.dataset_path(TINY))
    cache = {p.name: p.read_bytes() for p in ck.cache_path(TINY).iterdir()}
    out = build_dataset(TINY, workers=2, progress=False, shard_size=1, force=True)
    assert ck.checksum_dir(out) == one
    assert {p.name: p.read_bytes() for p in ck.cache_path(TINY).iterdir()} == cache


def test_non_pixel_checksum_ignores_pixels_only(root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = ck.dataset_path(TINY)
    before_full, before_np = ck.checksum_dir(out), ck.nonpixel_checksum_dir(out)
    part = out / "data" / "0" / "part-0.parquet"
    table = pq.read_table(part)
    obs = table.column("observations").combine_chunks()
    pix = obs.field("pixels")
    values = pix.flatten().to_numpy().copy()
    values[123] ^= 0x01  # one pixel value, as another renderer would draw it
    new_pix = pa.FixedSizeListArray.from_arrays(pa.array(values), type=pix.type)
    new_obs = pa.StructArray.from_arrays([new_pix, obs.field("proprio")], names=["pixels", "proprio"])
    pq.write_table(table.set_column(table.column_names.index("observations"), "observations", new_obs), part)
    assert ck.checksum_dir(out) != before_full and ck.nonpixel_checksum_dir(out) == before_np
    table = pq.read_table(part)
    rewards = table.column("rewards").to_numpy().copy()
    rewards[0] += 1.0
    pq.write_table(table.set_column(table.column_names.index("rewards"), "rewards", pa.array(rewards)), part)
    assert ck.nonpixel_checksum_dir(out) != before_np


def test_verify_tells_another_renderer_from_corruption(root, monkeypatch, capsys):
    from refexp_envs.datasets.download import verify_dataset

    out = ck.dataset_path(TINY)
    nonpixel = ck.nonpixel_checksum_dir(out)
    # a pin made by another renderer: the pixels (so the full checksum) differ, the rest is the same
    monkeypatch.setitem(REGISTRY, TINY, _spec(sha256="0" * 64, nonpixel_sha256=nonpixel))
    r = verify_dataset(TINY)
    assert not r.ok and "drawn by another renderer" in r.diagnosis
    assert PIN_RENDERER["renderer"] in r.diagnosis and f"REFEXP_RENDERER=llvmpipe python -m refexp_envs.datasets build {TINY} --force" in r.diagnosis
    assert ck.read_sidecar(out)["renderer"]["renderer"] in r.diagnosis  # this copy's renderer, by name
    assert cli_main(["verify", TINY]) == 1
    assert "another renderer" in capsys.readouterr().err

    monkeypatch.setitem(REGISTRY, TINY, _spec(sha256="0" * 64, nonpixel_sha256="1" * 64))
    r = verify_dataset(TINY)
    assert "not a renderer difference" in r.diagnosis

    # the same values, pixels included, as the pin: another parquet writer made other bytes
    values = ck.nonpixel_checksum_dir(out, pixels=True)
    assert values == ck.read_sidecar(out)["values_sha256"]
    monkeypatch.setitem(REGISTRY, TINY, _spec(sha256="0" * 64, nonpixel_sha256=nonpixel, values_sha256=values))
    r = verify_dataset(TINY)
    assert "another parquet writer" in r.diagnosis and "pyarrow" in r.diagnosis

    monkeypatch.setitem(REGISTRY, TINY, _spec(sha256="0" * 64, nonpixel_sha256=nonpixel))
    meta = out / "data" / "0" / "metadata.json"
    meta.write_text(meta.read_text().replace('"total_steps": 6', '"total_steps": 7'))
    r = verify_dataset(TINY)
    assert "changed after it was built" in r.diagnosis and "corrupt" in r.diagnosis


# ----------------------------------------------------------------------------------- results
def test_results_files_say_what_rendered_them_and_older_files_still_read():
    from benchmark.results import renderer_info
    from benchmark.schema import SchemaError, validate_results

    old = json.loads(next((REPO / "refexp_baselines" / "results").glob("*.json")).read_text())
    assert "renderer" not in old
    validate_results(old)  # files written before the field existed
    info = renderer_info("pixels")
    assert info["renderer"] and info["vendor"] and info["version"] and info["mujoco"]
    assert renderer_info("state") is None
    validate_results({**old, "renderer": info})
    validate_results({**old, "renderer": None})
    with pytest.raises(SchemaError, match="renderer"):
        validate_results({**old, "renderer": "llvmpipe"})
    with pytest.raises(SchemaError, match="renderer"):
        validate_results({**old, "renderer": {"renderer": 5}})


# ------------------------------------------------------------------------------- device rule
def test_auto_device_uses_cuda_only_where_measured_faster(tmp_path, monkeypatch):
    import torch

    from refexp_baselines import train

    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"measurements": [
        {"gpu": "NVIDIA H200", "stages": {"frames": {"cpu_steps_s": 10.0, "cuda_steps_s": 50.0},
                                          "belief": {"cpu_steps_s": 6.1, "cuda_steps_s": 4.0},
                                          "agent": {"cpu_steps_s": 225.0, "cuda_steps_s": 240.0}}}]}))
    assert train.measured_cuda_stages("NVIDIA H200", rule) == {"frames"}  # agent: under the 1.1x margin
    assert train.measured_cuda_stages("NVIDIA A100", rule) == set()  # no measurement on this model: CPU
    assert train.measured_cuda_stages("NVIDIA H200", tmp_path / "missing.json") == set()
    assert set(train.stage_devices("cpu").values()) == {torch.device("cpu")}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    monkeypatch.setattr(train, "DEVICE_RULE_FILE", rule)
    monkeypatch.setattr(train.measured_cuda_stages, "__defaults__", (rule,))
    assert train.stage_devices("auto") == {"frames": torch.device("cuda"), "belief": torch.device("cpu"),
                                           "agent": torch.device("cpu")}
    shipped = json.loads(Path(train.__file__).with_name("device_rule.json").read_text())
    assert isinstance(shipped["measurements"], list)  # the rule file that --device auto reads


def test_gpu_check_report_feeds_the_device_rule(tmp_path, monkeypatch):
    """tools/gpu_check.py: a report of partial parts renders; its stage speeds become the rule."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    from refexp_baselines import train

    report = {"command": "python tools/gpu_check.py", "date": "2026-12-04 17:00 UTC", "quick": False,
              "machine": {"gpu": "NVIDIA H200, 580, 143771 MiB", "cpu": "x", "cpu_count": 16, "torch": "2.11",
                          "mujoco": "3.3.0"},
              "parts": {"probe_gpu": {"vendor": "NVIDIA Corporation", "renderer": "NVIDIA H200/PCIe/SSE2",
                                      "version": "4.6.0 NVIDIA 580"},
                        "probe_llvmpipe": {"error": "exit 1 after 2.0 s"},
                        "stages_cpu": {"frames": {"steps_per_s": 10.0}, "belief": {"steps_per_s": 6.0},
                                       "agent": {"steps_per_s": 200.0}},
                        "stages_cuda": {"gpu": "NVIDIA H200", "frames": {"steps_per_s": 40.0},
                                        "belief": {"steps_per_s": 4.0}, "agent": {"steps_per_s": 100.0}},
                        "build_llvmpipe": {"skipped": "the llvmpipe renderer did not start (probe_llvmpipe)"},
                        "harness": {"rows": [{"workers": 1, "trials": 48, "wall_s": 20.0, "trials_per_s": 2.4}]}}}
    gpu_check.derive(report, tmp_path)
    text = gpu_check.markdown(report)
    assert "| frames | 10.00 | 40.00 | 4.00 |" in text and "did not start" in text and "| 1 | 48 |" in text
    path = tmp_path / "gpu_check.json"
    path.write_text(json.dumps(report))
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"measurements": []}))
    monkeypatch.setattr(train, "DEVICE_RULE_FILE", rule)
    assert gpu_check.main(["rule", str(path)]) == 0
    assert train.measured_cuda_stages("NVIDIA H200", rule) == {"frames"}
    assert gpu_check.main(["rule", str(tmp_path / "none.json")]) == 1
