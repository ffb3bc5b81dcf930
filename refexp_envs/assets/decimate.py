"""`python -m refexp_envs.assets.decimate`: write `visual_meshes_v1.npz`, the decimated visual
meshes that the v1 envs render (physics and collision keep Metaworld's full meshes).

A 64x64 camera cannot resolve most of the ~69,000 triangles of Metaworld's Sawyer meshes, and
rendering them is most of a pixel step's cost. Each mesh is simplified with quadric decimation
(`fast-simplification`, pinned below) to at most `FACE_BUDGET` triangles. The result is committed,
so that the pixels (and the v1 dataset checksums) never depend on the library on a user's machine;
`tests/test_envs.py` checks the committed file's SHA-256, and rerunning this command with the
pinned library reproduces it (run it only to change the meshes: that is a new env version).

The npz holds, per mesh name `<n>`: `<n>/vert` float32 (V, 3) in the STL file's frame and
`<n>/face` int32 (F, 3).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os

import numpy as np

from refexp_envs import scene

PINNED_LIBRARY = ("fast-simplification", "0.2.0")
FACE_BUDGET = 600  # triangles per mesh at most; meshes already under it are kept as they are
MESHES = ("base", "eGripperBase", "head", "l0", "l1", "l2", "l3", "l4", "l5", "l6", "pedestal",
          "drawerhandle")
OUT = os.path.join(os.path.dirname(__file__), "visual_meshes_v1.npz")


def read_stl(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Binary STL -> (vertices float64 (V, 3), faces int64 (F, 3)), duplicate corners welded."""
    with open(path, "rb") as f:
        data = f.read()
    n = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0])
    rec = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    tris = np.frombuffer(data, dtype=rec, count=n, offset=84)["v"].reshape(-1, 3)
    verts, inverse = np.unique(tris, axis=0, return_inverse=True)
    return verts.astype(np.float64), inverse.reshape(-1, 3).astype(np.int64)


def decimate(verts: np.ndarray, faces: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    import fast_simplification

    if len(faces) <= budget:
        return verts, faces
    out_v, out_f = fast_simplification.simplify(verts, faces, target_count=budget)
    return np.asarray(out_v), np.asarray(out_f)


def mesh_files() -> dict[str, str]:
    import mujoco

    spec = mujoco.MjSpec.from_file(scene.SAWYER_DRAWER_XML)
    base = os.path.dirname(scene.SAWYER_DRAWER_XML)
    return {m.name: os.path.normpath(os.path.join(base, m.file)) for m in spec.meshes if m.name in MESHES}


def build() -> dict[str, np.ndarray]:
    installed = importlib.metadata.version(PINNED_LIBRARY[0])
    if installed != PINNED_LIBRARY[1]:
        raise SystemExit(f"{PINNED_LIBRARY[0]}=={PINNED_LIBRARY[1]} is pinned, found {installed}: "
                         f"pip install {PINNED_LIBRARY[0]}=={PINNED_LIBRARY[1]}")
    arrays = {}
    for name, path in sorted(mesh_files().items()):
        v, f = decimate(*read_stl(path), FACE_BUDGET)
        arrays[f"{name}/vert"] = v.astype(np.float32)
        arrays[f"{name}/face"] = f.astype(np.int32)
    return arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m refexp_envs.assets.decimate", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=OUT, help="where to write the npz")
    args = parser.parse_args(argv)
    arrays = build()
    np.savez_compressed(args.out, **arrays)
    total = sum(len(a) for k, a in arrays.items() if k.endswith("/face"))
    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print(f"wrote {args.out}: {total} triangles, {os.path.getsize(args.out)} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
