"""GPU check for issue 26: is the GPU path faster, and which bytes does each renderer draw?

On a GPU machine it measures, each part in its own process, within a time budget:

* renderers: the GL vendor/renderer/version of the GPU's EGL and of Mesa llvmpipe (`REFEXP_RENDERER=
  llvmpipe`), and how many pixels of a TwoDrawer-v1 first frame differ between them;
* stages: training steps/s of each stage (frames VAE, belief filter, agent) on the CPU and on CUDA,
  a few hundred steps each on synthetic data with the `ours` config's networks and batch sizes (the
  entry for `refexp_baselines/device_rule.json`, which `--device auto` reads);
* build: the two-drawer expert set built by `--workers` processes under each renderer: wall time, and
  whether its SHA-256 (and its non-pixel SHA-256) match the registry's pins;
* harness: trials/s of the harness against its worker count (`ours`, TwoDrawer-v1, GPU renderer);
* score: the shipped `ours` bundles scored on TwoDrawer-v1 with the shipped results' protocol under
  each renderer: trial outcomes that differ (from each other and from the shipped file) and the
  aggregates with their intervals.

It writes `gpu_check.json`, `gpu_check.md` and `gpu_check.log` into `--out` (default `$OUT`), after
every part, so that a run cut short keeps what it measured.

    python tools/gpu_check.py --out DIR [--quick] [--parts renderers,stages,...] [--budget-s 420]
    python tools/gpu_check.py bundle .gpu [--mesa]   # here: what a bare GPU machine lacks
    python tools/gpu_check.py rule gpu_check.json     # its stage speeds into --device auto's rule

`--quick` runs every part with tiny sizes (the CPU test of this script). A bundle made by `bundle`
(docs/gpu.md: what it holds and the device command) is used when `--bundle DIR` is given: its wheels
must be installed first (`pip install --no-index --no-deps --target ...`), its slim Metaworld (only
the assets RefExp loads) is put on the path, glvnd's GL loaders are used where the machine lacks them,
and Mesa's libraries (`--mesa`) serve `REFEXP_RENDERER=llvmpipe`; without Mesa there, the llvmpipe
parts are reported as skipped.
Exit status: 0 done (parts that failed are reported in the files), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("renderers", "stages", "build", "score", "harness")
EXPERT_SET = "refexp/two-drawer/expert-v1"
QUICK_SET = "refexp/two-drawer/dev-v1"
ENV_ID = "RefExp/TwoDrawer-v1"
SHIPPED_RESULTS = REPO / "refexp_baselines" / "results" / "ours_twodrawer-v1_K3_tpt50_s0-1-2-3-4.json"
RENDERERS = ("gpu", "llvmpipe")
# glvnd's vendor folders, and where this workplace's GPU machines mount NVIDIA's EGL vendor file
GLVND_DIRS = ("/etc/glvnd/egl_vendor.d", "/usr/share/glvnd/egl_vendor.d")
NVIDIA_VENDOR_FILES = ("/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json",)
# The Metaworld files RefExp's scene loads (found with `strace -e openat` building every v1 env)
METAWORLD_FILES = (
    "assets/objects/assets/drawer.xml", "assets/objects/assets/drawer_dependencies.xml",
    "assets/objects/assets/xyz_base.xml", "assets/objects/assets/xyz_base_dependencies.xml",
    "assets/objects/meshes/drawer/drawer.stl", "assets/objects/meshes/drawer/drawercase.stl",
    "assets/objects/meshes/drawer/drawerhandle.stl", "assets/objects/meshes/table/tablebody.stl",
    "assets/objects/meshes/table/tabletop.stl", "assets/sawyer_xyz/sawyer_drawer.xml",
    "assets/scene/basic_scene.xml", "assets/textures/floor2.png", "assets/textures/metal.png",
    "assets/textures/wood2.png",
) + tuple(f"assets/objects/meshes/xyz_base/{n}.stl" for n in
          ("base", "eGripperBase", "head", "l0", "l1", "l2", "l3", "l4", "l5", "l6", "pedestal"))
WHEELS = ("mujoco", "PyOpenGL", "gymnasium", "minari", "Farama-Notifications", "glfw")
# Mesa's llvmpipe through EGL (the pins' renderer), and libraries a bare machine may lack: these are
# used only where `ldconfig -p` does not list them (glibc, libstdc++ and the like are never carried)
MESA_LIBS = ("libEGL_mesa.so.0", "libgbm.so.1", "libglapi.so.0", "libLLVM-15.so.1", "libz3.so.4")
GLVND_LIBS = ("libEGL.so.1", "libGLdispatch.so.0", "libOpenGL.so.0", "libGL.so.1", "libGLX.so.0")  # ~1 MB
NVIDIA_LIB_DIRS = ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib")
FALLBACK_LIBS = GLVND_LIBS + (
    "libxml2.so.2",
    "libicuuc.so.72", "libicudata.so.72", "libbsd.so.0", "libmd.so.0", "libedit.so.2", "libelf.so.1",
    "libsensors.so.5", "libdrm.so.2", "libdrm_amdgpu.so.1", "libdrm_intel.so.1", "libdrm_nouveau.so.2",
    "libdrm_radeon.so.1", "libX11-xcb.so.1", "libX11.so.6", "libxcb.so.1", "libxcb-dri2.so.0", "libxcb-dri3.so.0",
    "libxcb-present.so.0", "libxcb-randr.so.0", "libxcb-sync.so.1", "libxcb-xfixes.so.0", "libXau.so.6",
    "libXdmcp.so.6", "libwayland-client.so.0", "libwayland-server.so.0", "libxshmfence.so.1", "libpciaccess.so.0",
)
SYSTEM_LIB_DIR = Path("/usr/lib/x86_64-linux-gnu")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------ the bundle
def make_bundle(dest: Path, mesa: bool = False) -> None:
    """Here (network, Debian 12 with Mesa): wheels for CPython 3.12, a slim Metaworld, glvnd's GL
    loaders (a bare GPU machine may lack them) and, with `mesa`, Mesa's llvmpipe and what it links
    (about 40 MB more: too much to travel beside this repository within the device's 64 MiB)."""
    import importlib.metadata as md

    import metaworld

    dest.mkdir(parents=True, exist_ok=True)
    wheels = dest / "wheels"
    wheels.mkdir(exist_ok=True)
    pins = [f"{name}=={md.version(name)}" for name in WHEELS]
    plats = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any")
             for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                    "3.12", "--implementation", "cp", *plats, "-d", str(wheels), *pins], check=True)
    src = Path(metaworld.__file__).parent
    with tarfile.open(dest / "metaworld.tar.gz", "w:gz") as tar:
        init = dest / "__init__.py"
        init.write_text('"""Metaworld ' + md.version("metaworld") + ": only the assets RefExp's scene loads "
                        '(tools/gpu_check.py bundle)."""\n')
        tar.add(init, "metaworld/__init__.py")
        init.unlink()
        for rel in METAWORLD_FILES:
            tar.add(src / rel, f"metaworld/{rel}")
    with tarfile.open(dest / "gl.tar.xz", "w:xz") as tar:
        for name in GLVND_LIBS:
            tar.add((SYSTEM_LIB_DIR / name).resolve(), f"fallback/{name}")
        if mesa:
            for name in MESA_LIBS:
                tar.add((SYSTEM_LIB_DIR / name).resolve(), f"lib/{name}")
            tar.add((SYSTEM_LIB_DIR / "dri" / "swrast_dri.so").resolve(), "lib/dri/swrast_dri.so")
            for name in FALLBACK_LIBS[len(GLVND_LIBS):]:
                tar.add((SYSTEM_LIB_DIR / name).resolve(), f"fallback/{name}")
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"{dest}: {size / 2**20:.1f} MiB ({', '.join(sorted(p.name for p in dest.iterdir()))})")


def _ldconfig_sonames() -> set[str]:
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def unpack_bundle(bundle: Path, work: Path) -> dict:
    """Slim Metaworld and Mesa from a bundle into `work`; returns the paths and what was missing here."""
    out: dict = {}
    if (bundle / "metaworld.tar.gz").is_file():
        site = work / "site"
        with tarfile.open(bundle / "metaworld.tar.gz") as tar:
            tar.extractall(site, filter="data")
        out["pythonpath"] = str(site)
    if (bundle / "gl.tar.xz").is_file():
        gl = work / "gl"
        with tarfile.open(bundle / "gl.tar.xz") as tar:
            tar.extractall(gl, filter="data")
        have = _ldconfig_sonames()
        use = gl / "use"
        use.mkdir(exist_ok=True)
        missing = [n for n in FALLBACK_LIBS if n not in have and (gl / "fallback" / n).is_file()]
        for name in missing:
            (use / name).symlink_to(gl / "fallback" / name)
        out.update(fallback=str(use), carried_because_missing=missing)
        if (gl / "lib" / "libEGL_mesa.so.0").is_file():
            vendor = gl / "50_mesa.json"
            vendor.write_text(json.dumps({"file_format_version": "1.0.0",
                                          "ICD": {"library_path": str(gl / "lib" / "libEGL_mesa.so.0")}}))
            out.update(mesa_lib=str(gl / "lib"), mesa_dri=str(gl / "lib" / "dri"), mesa_vendor=str(vendor))
    return out


def renderer_env(name: str, unpacked: dict) -> dict:
    """Environment variables of a part's process for renderer `name` ("gpu" or "llvmpipe")."""
    path = [unpacked["pythonpath"]] if "pythonpath" in unpacked else []
    env = {"MUJOCO_GL": "egl", "PYTHONPATH": os.pathsep.join(path + [str(REPO), os.environ.get("PYTHONPATH", "")])}
    libs = ([unpacked["fallback"]] if "fallback" in unpacked else []) + [d for d in NVIDIA_LIB_DIRS if Path(d).is_dir()]
    if name == "llvmpipe":
        env["REFEXP_RENDERER"] = "llvmpipe"
        if "mesa_lib" in unpacked:
            libs.insert(0, unpacked["mesa_lib"])
            env.update(__EGL_VENDOR_LIBRARY_FILENAMES=unpacked["mesa_vendor"], LIBGL_DRIVERS_PATH=unpacked["mesa_dri"])
    else:
        has_nvidia = any(Path(d, "10_nvidia.json").is_file() for d in GLVND_DIRS)
        mounted = [f for f in NVIDIA_VENDOR_FILES if Path(f).is_file()]
        if not has_nvidia and mounted:
            env["__EGL_VENDOR_LIBRARY_FILENAMES"] = mounted[0]
    if libs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [os.environ.get("LD_LIBRARY_PATH", "")])
    return env


# ------------------------------------------------------------------------------------ the parts
def part_probe(args) -> dict:
    """GL strings of this process's renderer and a TwoDrawer-v1 first frame (saved for comparison)."""
    import gymnasium as gym
    import numpy as np

    import refexp_envs  # noqa: F401
    from refexp_envs.render import gl_info

    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0)
    info = gl_info()
    np.save(Path(args.work) / f"frame_{args.renderer}.npy", obs["pixels"])
    env.close()
    return info


def _synthetic_buffers(episodes: int, seed: int = 0):
    import numpy as np

    from refexp_envs.datasets.episode import Episode, InMemoryTaskBuffers

    g = np.random.default_rng(seed)
    eps = [Episode(g.integers(0, 255, (51, 64, 64, 3), dtype=np.uint8), g.normal(size=(51, 4)).astype(np.float32),
                   g.uniform(-1, 1, (50, 4)).astype(np.float32), (g.random(50) > 0.8).astype(np.float32), i % 2)
           for i in range(episodes)]
    return InMemoryTaskBuffers(eps, 2)


def part_stages(args) -> dict:
    """Steps/s of the three training stages on `args.device` (the `ours` config; fewer steps)."""
    import dataclasses

    import torch

    from refexp_baselines import configs as C
    from refexp_baselines.train import run

    torch.set_num_threads(1)  # train's default (--threads 1)
    steps = {"frames": 20, "belief": 6, "agent": 60} if args.quick else {"frames": 150, "belief": 100, "agent": 600}
    base = C.variant("ours")
    cfg = dataclasses.replace(
        base, eval_trials=0, seed=0,
        frames=dataclasses.replace(base.frames, steps=steps["frames"]),
        belief=dataclasses.replace(base.belief, steps=steps["belief"]),
        agent=dataclasses.replace(base.agent, steps=steps["agent"], pool_trajectories=64 if not args.quick else 8))
    buffers = _synthetic_buffers(8 if args.quick else 40)
    runs = Path(args.work) / f"runs_{args.device}"
    res = run(cfg, buffers=buffers, runs_dir=str(runs), device=args.device, progress=False)
    out = {"device": args.device, "threads": torch.get_num_threads(),
           "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}
    for stage in ("frames", "belief", "agent"):
        t = res["stage_timing"][stage]["timing"] if "timing" in res["stage_timing"][stage] else res["stage_timing"][stage]
        out[stage] = {"steps": steps[stage], "train_s": round(t["train_s"], 2),
                      "steps_per_s": round(steps[stage] / max(t["train_s"], 1e-9), 2)}
    shutil.rmtree(runs, ignore_errors=True)
    return out


def part_build(args) -> dict:
    """Build the expert set (the dev set with --quick) with `args.workers` processes, into a private
    dataset folder; its times, checksums and what the pins say."""
    from refexp_envs.datasets import checksum as ck
    from refexp_envs.datasets.build import build_dataset
    from refexp_envs.datasets.registry import get_spec

    dataset_id = QUICK_SET if args.quick else EXPERT_SET
    root = Path(args.work) / f"datasets_{args.renderer}"
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    t0 = time.perf_counter()
    out = build_dataset(dataset_id, workers=args.workers, progress=False, force=True)
    wall = time.perf_counter() - t0
    side, spec = ck.read_sidecar(out), get_spec(dataset_id)
    from refexp_envs.datasets.download import explain_mismatch

    # what `verify` would tell a user of this copy (from the digests the build's workers computed)
    says = "" if side["sha256"] == spec.sha256 else explain_mismatch(
        spec, side, side["sha256"], side["nonpixel_sha256"], side.get("values_sha256"))
    shutil.rmtree(root, ignore_errors=True)  # 1.5 GB per build
    return {"dataset_id": dataset_id, "workers": args.workers, "wall_s": round(wall, 1),
            "collect_s": side["collect_seconds"], "build_s": side["build_seconds"], "sha256": side["sha256"],
            "pin": spec.sha256, "matches_pin": side["sha256"] == spec.sha256,
            "nonpixel_sha256": side["nonpixel_sha256"], "nonpixel_pin": spec.nonpixel_sha256,
            "nonpixel_matches_pin": None if spec.nonpixel_sha256 is None else side["nonpixel_sha256"] == spec.nonpixel_sha256,
            "values_sha256": side.get("values_sha256"), "renderer": side["renderer"],
            "verify_says": says}


def _shipped_protocol(quick: bool) -> dict:
    shipped = json.loads(SHIPPED_RESULTS.read_text())
    if quick:
        return {"training_seeds": (0,), "trials_per_task": 2, "episodes": 3, "eval_seed": shipped["eval_seed"]}
    return {"training_seeds": tuple(shipped["training_seeds"]), "trials_per_task": shipped["trials_per_task"],
            "episodes": shipped["episodes"], "eval_seed": shipped["eval_seed"]}


def part_score(args) -> dict:
    """Score the shipped `ours` with the shipped results' protocol (public secret) under this renderer."""
    from benchmark.protocol import PUBLIC_SECRET
    from benchmark.run import evaluate

    p = _shipped_protocol(args.quick)
    res = evaluate("ours", env_id=ENV_ID, episodes=p["episodes"], trials_per_task=p["trials_per_task"],
                   training_seeds=p["training_seeds"], eval_seed=p["eval_seed"], secret=PUBLIC_SECRET,
                   workers=args.workers, progress=False)
    (Path(args.work) / f"results_{args.renderer}.json").write_text(json.dumps(res))
    return {"wall_s": res["wall_time_s"], "workers": res["workers"], "success_rate": res["success_rate"],
            "exploration_score": res["exploration_score"], "exploration_score_ci": res["exploration_score_ci"],
            "renderer": res.get("renderer")}


def part_harness(args) -> dict:
    """Trials/s of the harness against its worker count (the same trials for every count)."""
    from benchmark.protocol import PUBLIC_SECRET
    from benchmark.run import evaluate

    tpt = 2 if args.quick else 32
    rows = []
    for w in [int(x) for x in args.worker_counts.split(",")]:
        t0 = time.perf_counter()
        # batches of 2 trials: enough chunks for every worker count (the harness's default is 8)
        res = evaluate("ours", env_id=ENV_ID, episodes=3, trials_per_task=tpt, training_seeds=(0,), workers=w,
                       batch=2, secret=PUBLIC_SECRET, progress=False)
        wall = time.perf_counter() - t0
        trials = len(res["raw_tasks"][0])
        rows.append({"workers": res["workers"], "trials": trials, "wall_s": round(wall, 2),
                     "trials_per_s": round(trials / wall, 2)})
    return {"rows": rows}


PART_FUNCS = {"probe": part_probe, "stages": part_stages, "build": part_build, "score": part_score,
              "harness": part_harness}


# ------------------------------------------------------------------------------------ the driver
class Check:
    """Runs the parts as subprocesses within a budget and keeps the report current in `out`."""

    def __init__(self, args):
        self.args, self.t0 = args, time.perf_counter()
        self.out, self.work = Path(args.out), Path(args.work)
        self.report: dict = {"command": "python tools/gpu_check.py " + " ".join(sys.argv[1:]),
                             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
                             "machine": machine(), "parts": {}}
        self.unpacked: dict = {}

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.t0)

    def run_part(self, key: str, part: str, renderer: str, timeout: float, **extra) -> dict | None:
        if self.left() < 15:
            self.report["parts"][key] = {"skipped": "out of time (--budget-s)"}
            self.save()
            return None
        timeout = min(timeout, self.left() - 5)
        result_file = self.work / f"{key}.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "_part", part, "--work", str(self.work),
               "--renderer", renderer, "--result", str(result_file), "--workers", str(self.args.workers)]
        cmd += ["--quick"] if self.args.quick else []
        for k, v in extra.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        env = {**os.environ, **renderer_env(renderer, self.unpacked), "PYTHONUNBUFFERED": "1"}
        log(f"{key}: {part} under {renderer} (timeout {timeout:.0f} s)")
        t = time.perf_counter()
        with open(self.out / "gpu_check.log", "a") as logf:
            logf.write(f"\n===== {key}: {' '.join(cmd)}\n")
            logf.flush()
            try:
                proc = subprocess.run(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, timeout=timeout, cwd=REPO)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        wall = round(time.perf_counter() - t, 1)
        if rc == 0 and result_file.is_file():
            result = {**json.loads(result_file.read_text()), "part_wall_s": wall}
        else:
            result = {"error": f"exit {rc} after {wall} s (gpu_check.log has its output)"}
        log(f"{key}: {json.dumps(result)[:300]}")
        self.report["parts"][key] = result
        self.save()
        return result if "error" not in result else None

    def save(self) -> None:
        self.report["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        try:
            derive(self.report, self.work)
        except Exception as exc:  # noqa: BLE001  (a report with what was measured beats none)
            self.report["derived"] = {"error": f"{type(exc).__name__}: {exc}"}
        (self.out / "gpu_check.json").write_text(json.dumps(self.report, indent=1) + "\n")
        (self.out / "gpu_check.md").write_text(markdown(self.report))


def machine() -> dict:
    import importlib.metadata as md

    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    for name in ("torch", "mujoco", "numpy", "minari", "pyarrow"):
        try:
            info[name] = md.version(name)
        except md.PackageNotFoundError:
            info[name] = None
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        info["gpu"] = smi or None
    except (OSError, subprocess.SubprocessError):
        info["gpu"] = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def derive(report: dict, work: Path) -> None:
    """What the parts' outputs say together: pixel differences, stage ratios, trial flips."""
    import numpy as np

    parts, d = report["parts"], {}
    frames = {r: work / f"frame_{r}.npy" for r in RENDERERS}
    if all(f.is_file() for f in frames.values()):
        a, b = (np.load(frames[r]).astype(int) for r in RENDERERS)
        diff = np.abs(a - b).max(axis=-1)
        d["first_frame"] = {"pixels_differing": round(float((diff > 0).mean()), 4), "max_abs_diff": int(diff.max())}
    cpu, cuda = parts.get("stages_cpu", {}), parts.get("stages_cuda", {})
    if "frames" in cpu and "frames" in cuda:
        stages = {s: {"cpu_steps_s": cpu[s]["steps_per_s"], "cuda_steps_s": cuda[s]["steps_per_s"]}
                  for s in ("frames", "belief", "agent")}
        d["device_rule"] = {"gpu": cuda.get("gpu"), "date": report["date"], "machine": report["machine"],
                            "command": report["command"], "stages": stages}
    scores = {r: work / f"results_{r}.json" for r in RENDERERS}
    got = {r: json.loads(p.read_text()) for r, p in scores.items() if p.is_file()}
    if SHIPPED_RESULTS.is_file() and not report.get("quick"):
        got["shipped"] = json.loads(SHIPPED_RESULTS.read_text())
    flips = {}
    names = list(got)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            a, b = np.asarray(got[x]["raw_successes"]), np.asarray(got[y]["raw_successes"])
            if a.shape == b.shape:
                flips[f"{x} vs {y}"] = {"trials": int(a.shape[0] * a.shape[1]),
                                        "trials_differing": int((a != b).any(axis=2).sum()),
                                        "episodes_differing": int((a != b).sum())}
    if flips:
        d["trial_flips"] = flips
    if "shipped" in got:
        d["shipped"] = {k: got["shipped"][k] for k in ("success_rate", "exploration_score", "exploration_score_ci")}
    report["derived"] = d


def _fmt(x, nd=2) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    return "-" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def markdown(report: dict) -> str:
    """The report as markdown tables (docs/gpu.md embeds the latest)."""
    m, parts, d = report["machine"], report["parts"], report.get("derived", {})
    lines = [f"GPU check ({'quick, ' if report['quick'] else ''}{report['date']}): `{report['command']}`; "
             f"{m.get('gpu') or 'no GPU'}; {m.get('cpu')} x {m['cpu_count']}; torch {m['torch']}, mujoco {m['mujoco']}; "
             f"{report.get('elapsed_s')} s in all.", ""]
    lines += ["| renderer | GL vendor | GL renderer | GL version |", "|---|---|---|---|"]
    for r in RENDERERS:
        p = parts.get(f"probe_{r}", {})
        lines.append(f"| {r} | {p.get('vendor', p.get('error', p.get('skipped', '-')))} | {p.get('renderer', '-')} | "
                     f"{p.get('version', '-')} |")
    if "first_frame" in d:
        ff = d["first_frame"]
        lines.append(f"\nTwoDrawer-v1 first frame (reset seed 0): {ff['pixels_differing']:.1%} of pixels differ between "
                     f"the renderers, by at most {ff['max_abs_diff']}/255.")
    lines += ["", "| training stage | CPU steps/s (1 thread) | CUDA steps/s | CUDA / CPU |", "|---|---|---|---|"]
    for s in ("frames", "belief", "agent"):
        c, g = parts.get("stages_cpu", {}).get(s, {}), parts.get("stages_cuda", {}).get(s, {})
        ratio = (g["steps_per_s"] / c["steps_per_s"]) if c.get("steps_per_s") and g.get("steps_per_s") else None
        lines.append(f"| {s} | {_fmt(c.get('steps_per_s'))} | {_fmt(g.get('steps_per_s'))} | {_fmt(ratio)} |")
    for key in ("stages_cpu", "stages_cuda"):
        if "error" in parts.get(key, {}) or "skipped" in parts.get(key, {}):
            lines.append(f"\n{key}: {parts[key].get('error') or parts[key].get('skipped')}")
    lines += ["", "| build | dataset | workers | wall s | collect s | SHA-256 = pin | non-pixel SHA-256 = pin |",
              "|---|---|---|---|---|---|---|"]
    for r in RENDERERS:
        b = parts.get(f"build_{r}", {})
        if "sha256" in b:
            lines.append(f"| {r} | `{b['dataset_id']}` | {b['workers']} | {b['wall_s']} | {b['collect_s']} | "
                         f"{'yes' if b['matches_pin'] else 'no: ' + b['sha256'][:12]} | {_fmt(b['nonpixel_matches_pin'])} |")
        else:
            lines.append(f"| {r} | {b.get('error') or b.get('skipped') or '-'} | | | | | |")
    lines += ["", "| `ours` on TwoDrawer-v1 | success per episode | exploration score [95% CI] | wall s |",
              "|---|---|---|---|"]
    for r in RENDERERS:
        s = parts.get(f"score_{r}", {})
        if "success_rate" in s:
            ci = s["exploration_score_ci"] or [None, None]
            lines.append(f"| {r} | {' / '.join(f'{x:.3f}' for x in s['success_rate'])} | "
                         f"{_fmt(s['exploration_score'], 3)} [{_fmt(ci[0], 3)}, {_fmt(ci[1], 3)}] | {s['wall_s']:.0f} |")
        else:
            lines.append(f"| {r} | {s.get('error') or s.get('skipped') or '-'} | | |")
    if "shipped" in d:
        s = d["shipped"]
        lines.append(f"| shipped file (2-core machine, llvmpipe) | {' / '.join(f'{x:.3f}' for x in s['success_rate'])} | "
                     f"{s['exploration_score']:.3f} [{s['exploration_score_ci'][0]:.3f}, {s['exploration_score_ci'][1]:.3f}] | |")
    for pair, f in d.get("trial_flips", {}).items():
        lines.append(f"\n{pair}: {f['trials_differing']} of {f['trials']} trials differ "
                     f"({f['episodes_differing']} episode outcomes).")
    h = parts.get("harness", {})
    lines += ["", "| harness workers | trials | wall s | trials/s |", "|---|---|---|---|"]
    for row in h.get("rows", []):
        lines.append(f"| {row['workers']} | {row['trials']} | {row['wall_s']} | {row['trials_per_s']} |")
    if "error" in h or "skipped" in h:
        lines.append(f"| {h.get('error') or h.get('skipped')} | | | |")
    return "\n".join(lines) + "\n"


def drive(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    check = Check(args)
    (out / "gpu_check.log").write_text("")
    if args.bundle:
        check.unpacked = unpack_bundle(Path(args.bundle), work)
        check.report["bundle"] = {k: v for k, v in check.unpacked.items() if k == "carried_because_missing"}
    parts = args.parts.split(",")
    quick, w = args.quick, args.workers
    available = {}
    if "renderers" in parts:
        for r in RENDERERS:
            available[r] = check.run_part(f"probe_{r}", "probe", r, 120) is not None
    else:
        available = {r: True for r in RENDERERS}
    if "stages" in parts:
        check.run_part("stages_cpu", "stages", "gpu", 300, device="cpu")
        import torch

        if torch.cuda.is_available():
            check.run_part("stages_cuda", "stages", "gpu", 300, device="cuda")
        else:
            check.report["parts"]["stages_cuda"] = {"skipped": "torch sees no CUDA device"}
    for part, limit in (("build", 600), ("score", 600)):
        if part in parts:
            for r in RENDERERS:
                if available[r]:
                    check.run_part(f"{part}_{r}", part, r, limit)
                else:
                    check.report["parts"][f"{part}_{r}"] = {"skipped": f"the {r} renderer did not start (probe_{r})"}
    if "harness" in parts:
        counts = "1,2" if quick else ",".join(str(c) for c in sorted({1, 4, w // 2, w} - {0}))
        check.run_part("harness", "harness", "gpu", 600, worker_counts=counts)
    check.save()
    log(f"done in {time.perf_counter() - check.t0:.0f} s: {out / 'gpu_check.md'}")
    print((out / "gpu_check.md").read_text())
    return 0


def add_rule(report_path: Path) -> int:
    """Append a report's `derived.device_rule` (CPU and CUDA steps/s per stage, with its GPU, machine,
    date and command) to refexp_baselines/device_rule.json, replacing an entry of the same GPU model."""
    from refexp_baselines.train import DEVICE_RULE_FILE

    try:
        entry = json.loads(report_path.read_text())["derived"]["device_rule"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {report_path} holds no stage measurements on a GPU ({exc!r})", file=sys.stderr)
        return 1
    rule = json.loads(DEVICE_RULE_FILE.read_text())
    rule["measurements"] = [m for m in rule["measurements"] if m.get("gpu") != entry["gpu"]] + [entry]
    DEVICE_RULE_FILE.write_text(json.dumps(rule, indent=2) + "\n")
    print(f"{DEVICE_RULE_FILE}: {entry['gpu']}: " + ", ".join(
        f"{s} cpu {m['cpu_steps_s']} cuda {m['cuda_steps_s']}" for s, m in entry["stages"].items()))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bundle"]:
        if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--mesa"):
            print("usage: python tools/gpu_check.py bundle DIR [--mesa]", file=sys.stderr)
            return 2
        make_bundle(Path(argv[1]), mesa="--mesa" in argv)
        return 0
    if argv[:1] == ["rule"]:  # a GPU run's stage measurements into --device auto's rule file
        if len(argv) != 2:
            print("usage: python tools/gpu_check.py rule GPU_CHECK_JSON", file=sys.stderr)
            return 2
        return add_rule(Path(argv[1]))
    if argv[:1] == ["_part"]:  # one part, in its own process (the driver's subprocess)
        p = argparse.ArgumentParser()
        p.add_argument("_part")
        p.add_argument("name", choices=sorted(PART_FUNCS))
        for flag in ("--work", "--renderer", "--result", "--device", "--worker-counts"):
            p.add_argument(flag)
        p.add_argument("--workers", type=int)
        p.add_argument("--quick", action="store_true")
        a = p.parse_args(argv)
        result = PART_FUNCS[a.name](a)
        Path(a.result).write_text(json.dumps(result))
        return 0
    p = argparse.ArgumentParser(prog="python tools/gpu_check.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_check.{json,md,log} (default: $OUT)")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: the CPU test of this script")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for builds and scoring")
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting parts after this many seconds")
    p.add_argument("--bundle", default=None, help="a folder made by `bundle` (wheels installed separately)")
    a = p.parse_args(argv)
    if not a.out:
        p.error("--out is required where $OUT is not set")
    bad = set(a.parts.split(",")) - set(PARTS)
    if bad:
        p.error(f"unknown parts {sorted(bad)}; choose from {list(PARTS)}")
    if a.workers < 1:
        p.error("--workers must be >= 1")
    if a.work is None:
        import tempfile

        a.work = tempfile.mkdtemp(prefix="gpu_check-")
    return drive(a)


if __name__ == "__main__":
    sys.exit(main())
