"""Untrusted agents in their own process, confined by bubblewrap: the harness keeps the env, the task,
the trial loop and the secret, and sends the agent only what the protocol gives it.

* `start_agent(spec, env_id, seed, ...)` starts `python -m benchmark.sandbox` (the agent's process,
  inside `bwrap` when `confine=True`) and returns a proxy that implements the Agent protocol
  (`seed`, `reset`, `act`, and `reset_batch` / `act_batch` when the agent has them): one message per
  call over the child's stdin/stdout, observations as raw arrays, actions back as raw float32.
* Nothing in the wire format runs code: both sides exchange a JSON header plus raw array bytes (no
  pickle); the harness checks every reply's size, shape and finiteness.
* Each call has a timeout (`act_timeout_s`); a crash, a timeout or a malformed reply raises
  `AgentFailure` (the harness fails the trial and records why); `close()` kills the process group
  (under bwrap its pid namespace, so every process the agent started dies with it).
* The sandbox: `bwrap --unshare-all --proc /proc --dev /dev --cap-drop ALL --uid 65534 --new-session
  --die-with-parent`, read-only bindings of /usr, the Python installation, the repository's code and
  the agent's own files only, a private writable scratch folder, no network, and CPU-time and
  address-space limits. The agent process does not render, so it needs no GL.
* Trusted agents (built-in and reference names) are built in-process by `benchmark.agents.load_agent`.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark.protocol import ACTION_DIM

REPO_ROOT = Path(__file__).resolve().parents[1]
ISOLATIONS = ("auto", "sandbox", "process", "none")
ISOLATION_HELP = ("how an untrusted agent (module:Class, a .pt or .zip file) runs: auto = bubblewrap sandbox if "
                  "installed, else its own unconfined process with a warning; sandbox = bubblewrap or refuse; "
                  "process = its own unconfined process; none = in the harness's process (your own code only; "
                  "refused with a private secret). Built-in and reference agents always run in-process")
MAX_HEADER = 1 << 16  # bytes of a reply's JSON header
PIPE_SIZE = 1 << 20  # bytes of each pipe's buffer (Linux's default maximum for unprivileged users)
_HDR = struct.Struct("<II")  # JSON header length, payload length


class AgentFailure(RuntimeError):
    """The agent's process crashed, timed out or replied out of protocol; `kind` says which."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class ConfinementUnavailable(RuntimeError):
    """No working bubblewrap on this machine."""


# ------------------------------------------------------------------------------------------- trust
def is_trusted(spec: Any) -> bool:
    """Built-in and reference-method names run the project's own code on shipped files: trusted.
    Anything else given by name (`module:Class`, a `.pt` or `.zip` file) is a submission."""
    from benchmark.agents import BUILTIN_AGENTS, REFERENCE_AGENTS

    return isinstance(spec, str) and (spec in BUILTIN_AGENTS or spec in REFERENCE_AGENTS)


def harden_process() -> None:
    """Make this process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): processes of the same user
    without CAP_SYS_PTRACE can then read neither its memory nor its /proc environ. (Root still can:
    that is what the sandbox is for.) A no-op where prctl does not exist."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def is_dumpable() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE = 3


# --------------------------------------------------------------------------------------- bubblewrap
def bwrap_executable() -> str | None:
    return shutil.which("bwrap")


def confinement_problem() -> str | None:
    """None when bubblewrap is installed and can start a sandbox here, else what is wrong (one line)."""
    exe = bwrap_executable()
    if exe is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install -y bubblewrap)"
    probe = subprocess.run(_bwrap_args(exe, [], None, "cpu") + ["--", "/bin/true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return f"bubblewrap cannot start a sandbox here: {probe.stderr.decode(errors='replace').strip()[:200]}"
    return None


def _bwrap_args(exe: str, ro_paths: Sequence[str], scratch: str | None, device: str) -> list[str]:
    args = [exe, "--unshare-all", "--proc", "/proc", "--dev", "/dev", "--cap-drop", "ALL", "--uid", "65534",
            "--gid", "65534", "--new-session", "--die-with-parent", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ro_paths:
        args += ["--ro-bind", path, path]
    if device.startswith("cuda"):
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(dev), str(dev)]
    if scratch is not None:
        args += ["--bind", scratch, scratch, "--chdir", scratch]
    return args


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def readonly_paths(extra: Sequence[str | Path] = (), forbidden: Sequence[str | Path] = ()) -> list[str]:
    """What the sandbox binds read-only: the Python installation, the repository's code and `extra`
    (the agent's files and folders). A path that is `/`, the home folder, or holds a `forbidden` path
    (a signing key) is never bound: `ValueError` names it."""
    home = Path.home().resolve()
    never = [Path(p).resolve() for p in forbidden] + [home]
    out: list[Path] = []
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, REPO_ROOT, *extra]:
        p = Path(p).resolve()
        if not p.exists() or any(_inside(p, q) for q in out):
            continue
        if p == Path("/") or any(_inside(n, p) for n in never):
            raise ValueError(f"the sandbox would expose {p} (it is /, the home folder, or holds a key); "
                             "move the agent's files elsewhere")
        out = [q for q in out if not _inside(q, p)] + [p]
    return [str(p) for p in out]


def exposing_folder(path: str | Path, spec: str) -> str | None:
    """The folder the sandbox of agent `spec` binds that holds `path` (a secret file), or None."""
    target = Path(path).resolve()
    spec_file = [str(Path(spec).resolve())] if spec.endswith((".pt", ".zip")) else []
    bound = readonly_paths([*import_paths(spec), *spec_file])
    return next((b for b in bound if _inside(target, Path(b))), None)


def import_paths(spec: str) -> list[str]:
    """Folders on this process's `sys.path` that a `module:Class` agent may be imported from (never
    the Python installation, already bound, nor the home folder or `/`)."""
    if ":" not in spec or spec.endswith((".pt", ".zip")):
        return []
    home, prefixes = Path.home().resolve(), {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
    out = []
    for entry in sys.path:
        p = Path(entry or os.getcwd()).resolve()
        if not p.is_dir() or p in (home, Path("/")) or any(_inside(p, q) for q in prefixes) or _inside(home, p):
            continue
        if str(p) not in out:
            out.append(str(p))
    return out


def rlimits(memory_gb: float, cpu_s: float):
    """A `preexec_fn` setting the address-space (`memory_gb` GiB), CPU-time (`cpu_s`), file-size (1 GiB)
    and core-dump (none) limits, never above the caller's own."""
    def clamp(kind: int, soft: int, hard: int) -> None:  # never above a limit the harness itself runs under
        cur = resource.getrlimit(kind)[1]
        if cur != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur), min(hard, cur)
        resource.setrlimit(kind, (soft, hard))

    def apply() -> None:  # in the child, between fork and exec
        mem = int(memory_gb * 2**30)
        clamp(resource.RLIMIT_AS, mem, mem)
        cpu = int(cpu_s) + 1
        clamp(resource.RLIMIT_CPU, cpu, cpu + 5)
        clamp(resource.RLIMIT_FSIZE, 2**30, 2**30)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


# ------------------------------------------------------------------------------------- wire format
def _encode_obs(obs: Sequence[Any]) -> tuple[dict, list[np.ndarray]]:
    """B observations (dicts of arrays, or arrays) as one array per key, stacked `(B, ...)`."""
    if isinstance(obs[0], dict):
        keys = sorted(obs[0])
        arrays = [np.ascontiguousarray(np.stack([np.asarray(o[k]) for o in obs])) for k in keys]
    else:
        keys, arrays = None, [np.ascontiguousarray(np.stack([np.asarray(o) for o in obs]))]
    return {"keys": keys, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}, arrays


def _decode_obs(header: dict, payload: memoryview) -> list[Any]:
    arrays, at = [], 0
    for dtype, shape in header["arrays"]:
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) * dt.itemsize
        arrays.append(np.frombuffer(payload[at:at + n], dtype=dt).reshape(shape))
        at += n
    keys = header["keys"]
    b = arrays[0].shape[0]
    if keys is None:
        return [arrays[0][i] for i in range(b)]
    return [{k: a[i] for k, a in zip(keys, arrays)} for i in range(b)]


def _send(fd: int, header: dict, arrays: Sequence[np.ndarray] = (), deadline: float | None = None) -> None:
    """Write one message; with a `deadline`, `fd` is non-blocking and an agent that stops reading
    cannot stall the harness (`TimeoutError`)."""
    head = json.dumps(header).encode()
    body = b"".join(a.tobytes() for a in arrays)
    data = memoryview(_HDR.pack(len(head), len(body)) + head + body)
    while data:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            continue
        data = data[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytearray:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        try:
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _recv(fd: int, deadline: float | None, max_payload: int) -> tuple[dict, bytearray]:
    hlen, plen = _HDR.unpack(_read_exact(fd, _HDR.size, deadline))
    if hlen > MAX_HEADER or plen > max_payload:
        raise ValueError(f"a message of {hlen} + {plen} bytes (at most {MAX_HEADER} + {max_payload})")
    header = json.loads(_read_exact(fd, hlen, deadline))
    if not isinstance(header, dict):
        raise ValueError("a message header that is not a JSON object")
    return header, _read_exact(fd, plen, deadline)


# --------------------------------------------------------------------------------- harness's side
class RemoteAgent:
    """The Agent protocol, served by an agent in another process (see `start_agent`)."""

    uses_task = False  # a submitted agent is never given the task ...
    uses_layout = False  # ... nor the scene's layout

    def __init__(self, proc: subprocess.Popen, scratch: str, log, meta: dict, act_timeout_s: float):
        self._proc, self._scratch, self._log, self.act_timeout_s = proc, scratch, log, float(act_timeout_s)
        self._rfd, self._wfd = proc.stdout.fileno(), proc.stdin.fileno()
        for fd in (self._rfd, self._wfd):
            os.set_blocking(fd, False)
            try:  # a batch of frames (8 x 12 KiB) in one write, not 64 KiB at a time
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
            except OSError:
                pass
        self.meta = meta
        self.name, self.version = meta["name"], meta["version"]
        self.eligible, self.uses_dataset = meta["eligible"], meta["uses_dataset"]
        self.trained_env_id = meta["trained_env_id"]
        self._b = 1

    def _call(self, header: dict, arrays: Sequence[np.ndarray] = (), reply_rows: int = 0) -> np.ndarray | None:
        if self._proc.poll() is not None:
            raise AgentFailure("crash", f"the agent's process has exited (code {self._proc.returncode})")
        deadline = time.monotonic() + self.act_timeout_s
        try:
            _send(self._wfd, header, arrays, deadline)
            head, payload = _recv(self._rfd, deadline, reply_rows * ACTION_DIM * 4)
        except TimeoutError:
            self.close()
            raise AgentFailure("timeout", f"the agent did not answer {header['op']} within {self.act_timeout_s:g} s") from None
        except (EOFError, BrokenPipeError, ConnectionError):
            tail = self.log_tail()
            self.close()
            code = self._proc.returncode
            raise AgentFailure("crash", f"the agent's process died during {header['op']} (exit {code}); its stderr "
                               f"ends: {tail[-600:]}") from None
        except (ValueError, struct.error) as exc:  # JSONDecodeError is a ValueError
            self.close()
            raise AgentFailure("protocol", f"the agent's reply to {header['op']} is malformed: {exc}") from None
        if head.get("ok") is not True:
            self.close()
            raise AgentFailure("crash", f"the agent raised in {header['op']}: {str(head.get('error'))[:500]}")
        if not reply_rows:
            return None
        if head.get("shape") != [reply_rows, ACTION_DIM] or len(payload) != reply_rows * ACTION_DIM * 4:
            self.close()
            raise AgentFailure("protocol", f"the agent returned actions of shape {head.get('shape')}; expected "
                               f"[{reply_rows}, {ACTION_DIM}]")
        actions = np.frombuffer(bytes(payload), dtype="<f4").reshape(reply_rows, ACTION_DIM)
        if not np.all(np.isfinite(actions)):
            self.close()
            raise AgentFailure("protocol", "the agent returned a non-finite action")
        return actions.astype(np.float32)

    def seed(self, seed: int) -> None:
        self._call({"op": "seed", "seed": int(seed)})

    def reset(self) -> None:
        self._call({"op": "reset"})

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        head, arrays = _encode_obs([obs])
        head.update(op="act", reward=float(reward), start=bool(episode_start))
        return self._call(head, arrays, reply_rows=1)[0]

    def log_tail(self) -> str:
        """The last lines the agent wrote to stderr (kept in a file only the harness holds)."""
        return _tail(self._log)

    def close(self) -> None:
        """Stop the agent's process and everything it started; delete its scratch folder."""
        proc = self._proc
        if proc.poll() is None:
            try:
                _send(self._wfd, {"op": "close"}, deadline=time.monotonic() + 2)
                proc.wait(timeout=2)
            except (OSError, TimeoutError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its group: bwrap (and with it its pid namespace), or the plain child
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fh in (proc.stdin, proc.stdout, self._log):
            try:
                fh.close()
            except (OSError, ValueError):
                pass
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __del__(self):
        try:
            if self._proc.poll() is None:
                self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass


class RemoteBatchAgent(RemoteAgent):
    """A `RemoteAgent` whose agent offers `reset_batch` / `act_batch`: batching crosses the boundary."""

    def reset_batch(self, seeds: Sequence[int]) -> None:
        self._call({"op": "reset_batch", "seeds": [int(s) for s in seeds]})
        self._b = len(seeds)

    def act_batch(self, obs, rewards, episode_starts) -> np.ndarray:
        head, arrays = _encode_obs(list(obs))
        head.update(op="act_batch", rewards=[float(r) for r in rewards], starts=[bool(s) for s in episode_starts])
        return self._call(head, arrays, reply_rows=len(obs))


def start_agent(spec: str, env_id: str | None, seed: int = 0, device: str = "cpu", allow_env_mismatch: bool = False,
                *, confine: bool = True, act_timeout_s: float = 60.0, start_timeout_s: float = 600.0,
                memory_gb: float = 16.0, cpu_s: float = 24 * 3600.0, artifacts: Sequence[str | Path] = (),
                forbidden: Sequence[str | Path] = ()) -> RemoteAgent:
    """Start the agent `spec` (training seed `seed`) in its own process, inside bubblewrap when
    `confine`; `artifacts`: extra folders it may read (and import from). `ValueError` for an agent the
    harness refuses; `AgentFailure` when it does not start; `ConfinementUnavailable` without bwrap."""
    spec_path = None
    if spec.endswith((".pt", ".zip")):
        spec_path = str(Path(spec).resolve())
    extra = [*(str(Path(a).resolve()) for a in artifacts), *import_paths(spec)] + ([spec_path] if spec_path else [])
    ro = readonly_paths(extra, forbidden)
    scratch = tempfile.mkdtemp(prefix="refexp-agent-")
    os.chmod(scratch, 0o777)  # the sandbox's user (65534) writes there
    pythonpath = [str(REPO_ROOT)] + [p for p in extra if Path(p).is_dir()]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(pythonpath),
           "HOME": scratch, "TMPDIR": scratch, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MUJOCO_GL": "disable", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8"}
    request = {"spec": spec_path or spec, "env_id": env_id, "seed": int(seed), "device": device,
               "allow_env_mismatch": bool(allow_env_mismatch)}
    cmd = [sys.executable, "-m", "benchmark.sandbox", json.dumps(request)]
    if confine:
        exe = bwrap_executable()
        if exe is None:
            shutil.rmtree(scratch, ignore_errors=True)
            raise ConfinementUnavailable("bubblewrap is not installed (Debian/Ubuntu: apt-get install -y bubblewrap)")
        cmd = _bwrap_args(exe, ro, scratch, device) + ["--"] + cmd
    # the agent's stderr: a file only the harness holds (unnamed), each file it writes at most 1 GiB
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, cwd=scratch,
                            process_group=0, preexec_fn=rlimits(memory_gb, cpu_s), bufsize=0)
    try:
        head, _ = _recv(proc.stdout.fileno(), time.monotonic() + start_timeout_s, 0)
    except (TimeoutError, EOFError, ValueError, struct.error) as exc:
        _kill(proc, scratch)
        kind = "timeout" if isinstance(exc, TimeoutError) else "crash"
        raise AgentFailure(kind, f"the agent {spec!r} did not start ({kind}{': ' + str(exc) if str(exc) else ''}); "
                           f"its stderr ends: {_tail(log)}") from None
    if head.get("ok") is not True:
        _kill(proc, scratch)
        err = str(head.get("error"))[:500]
        if head.get("refused"):
            raise ValueError(err)
        raise AgentFailure("crash", f"the agent {spec!r} failed to load: {err}")
    meta = _check_meta(head.get("meta"))
    cls = RemoteBatchAgent if head.get("batch") is True else RemoteAgent
    return cls(proc, scratch, log, meta, act_timeout_s)


def _tail(log, size: int = 1500) -> str:
    try:
        log.seek(0, os.SEEK_END)
        end = log.tell()
        log.seek(max(0, end - size))
        return log.read().decode(errors="replace").strip() or "(nothing)"
    except (OSError, ValueError):
        return "(unavailable)"


def _kill(proc: subprocess.Popen, scratch: str) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    shutil.rmtree(scratch, ignore_errors=True)


def _check_meta(meta: Any) -> dict:
    """The agent's self-description, with every field of the type the results file records."""
    if not isinstance(meta, dict):
        raise AgentFailure("protocol", "the agent's process sent no metadata")
    out = {"name": meta.get("name"), "version": meta.get("version"), "eligible": meta.get("eligible"),
           "uses_task": False, "uses_dataset": meta.get("uses_dataset"), "trained_env_id": meta.get("trained_env_id"),
           "online_steps": meta.get("online_steps")}
    ok = (isinstance(out["name"], str) and 0 < len(out["name"]) <= 200 and isinstance(out["version"], str)
          and 0 < len(out["version"]) <= 200 and isinstance(out["eligible"], bool) and isinstance(out["uses_dataset"], bool)
          and (out["trained_env_id"] is None or (isinstance(out["trained_env_id"], str) and len(out["trained_env_id"]) <= 200))
          and (out["online_steps"] is None or (type(out["online_steps"]) is int and 0 <= out["online_steps"] < 2**63)))
    if not ok:
        raise AgentFailure("protocol", f"the agent's metadata is malformed: {str(meta)[:300]}")
    return out


# ----------------------------------------------------------------------------------- agent's side
def _serve(request: dict, rfd: int, wfd: int) -> None:
    """The agent's process: build the agent, describe it, then answer calls until `close`."""
    from benchmark.agents import agent_metadata, load_agent
    from benchmark.protocol import supports_batch

    try:
        agent = load_agent(request["spec"], request["env_id"], seed=request["seed"], device=request["device"],
                           allow_env_mismatch=request["allow_env_mismatch"])
    except Exception as exc:  # noqa: BLE001  (reported to the harness, one line)
        refused = isinstance(exc, (ValueError, FileNotFoundError))
        _send(wfd, {"ok": False, "error": str(exc) if refused else f"{type(exc).__name__}: {exc}", "refused": refused})
        return
    if getattr(agent, "uses_task", False) or getattr(agent, "uses_layout", False):
        _send(wfd, {"ok": False, "refused": True, "error": "this agent declares uses_task or uses_layout: an "
                    "untrusted agent is never given the task or the scene's layout (score your own such agent "
                    "with --isolation none; it is never ranked)"})
        return
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    meta = agent_metadata(agent, request["spec"])
    _send(wfd, {"ok": True, "meta": meta, "batch": supports_batch(agent)})
    while True:
        try:
            head, payload = _recv(rfd, None, 1 << 31)
        except EOFError:
            return
        op = head["op"]
        if op == "close":
            return
        try:
            if op == "seed":
                hook = getattr(agent, "seed", None)
                if callable(hook):
                    hook(head["seed"])
                _send(wfd, {"ok": True})
            elif op == "reset":
                agent.reset()
                _send(wfd, {"ok": True})
            elif op == "reset_batch":
                agent.reset_batch(head["seeds"])
                _send(wfd, {"ok": True})
            elif op in ("act", "act_batch"):
                obs = _decode_obs(head, memoryview(payload))
                if op == "act":
                    actions = np.asarray(agent.act(obs[0], head["reward"], head["start"]), dtype="<f4")
                    if actions.shape != (ACTION_DIM,):
                        raise ValueError(f"agent.act returned an action of shape {actions.shape}; expected ({ACTION_DIM},)")
                    actions = actions[None]
                else:
                    actions = np.asarray(agent.act_batch(obs, np.asarray(head["rewards"], dtype=np.float64),
                                                         np.asarray(head["starts"], dtype=bool)), dtype="<f4")
                    if actions.shape != (len(obs), ACTION_DIM):
                        raise ValueError(f"agent.act_batch returned shape {actions.shape} for {len(obs)} trials")
                _send(wfd, {"ok": True, "shape": list(actions.shape)}, [np.ascontiguousarray(actions)])
            else:
                _send(wfd, {"ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001  (the harness fails the trial)
            _send(wfd, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmark.sandbox REQUEST-JSON`: serve one agent on stdin/stdout (the harness starts this)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) != 1:
        print("usage: python -m benchmark.sandbox REQUEST-JSON (started by the harness, not by hand)", file=sys.stderr)
        return 2
    # The protocol gets private copies of stdin/stdout; the agent's prints go to stderr.
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(json.loads(argv[0]), rfd, wfd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
