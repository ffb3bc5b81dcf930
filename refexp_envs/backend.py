"""Where the heavy jobs run: in local processes (the default, no Ray needed) or on a Ray cluster.

The three heavy jobs (dataset build, harness, training sweep) share the two flags this module adds
(`--backend local|ray`, `--ray-address`) and `connect_ray`, which starts or joins Ray once per
process. It lives in `refexp_envs` because all three layers use it and imports flow one way.

    from refexp_envs.backend import add_backend_args, backend_from_args, connect_ray
    ray = connect_ray(address)            # None: $RAY_ADDRESS, else a local Ray with this machine's cores

An unreachable address fails within `CONNECT_TIMEOUT_S` seconds (a TCP probe before `ray.init`,
which would otherwise keep retrying for a minute); without Ray installed the error says how to
install it.
"""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field
from typing import Any

BACKENDS = ("local", "ray")
RAY_ADDRESS_ENV = "RAY_ADDRESS"
CONNECT_TIMEOUT_S = 5.0
# What chooses the renderer (refexp_envs.render.select_renderer): handed to Ray workers so they draw alike
RENDER_ENV_VARS = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "REFEXP_RENDERER", "__EGL_VENDOR_LIBRARY_FILENAMES",
                   "LIBGL_ALWAYS_SOFTWARE", "GALLIUM_DRIVER", "LP_NATIVE_VECTOR_WIDTH", "LP_NUM_THREADS")
INSTALL_HINT = 'Ray is not installed: pip install -e ".[ray]" (or pip install ray) on every machine of the cluster'


class BackendError(RuntimeError):
    """Ray is missing or unreachable: a usage problem, reported with what to do."""


@dataclass(frozen=True)
class Backend:
    """Which engine runs a job's tasks."""

    name: str = field(default="local", metadata={"help": "local: processes on this machine; ray: tasks on a Ray cluster"})
    ray_address: str | None = field(default=None, metadata={
        "help": f"Ray cluster address (host:port, ray://host:port or auto); default: ${RAY_ADDRESS_ENV} if set, "
                "else a local Ray started with this machine's cores"})

    def __post_init__(self):
        if self.name not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.name!r}")
        if self.ray_address is not None and self.name != "ray":
            raise ValueError("--ray-address needs --backend ray")

    @property
    def is_ray(self) -> bool:
        return self.name == "ray"


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    """Add `--backend` and `--ray-address` to a CLI (help generated from `Backend`'s fields)."""
    helps = {f.name: f.metadata["help"] for f in Backend.__dataclass_fields__.values()}
    parser.add_argument("--backend", choices=BACKENDS, default="local", help=helps["name"])
    parser.add_argument("--ray-address", default=None, help=helps["ray_address"])


def backend_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Backend:
    """The `Backend` of parsed args; a Ray backend without Ray installed is a usage error (exit 2)."""
    try:
        backend = Backend(args.backend, args.ray_address)
        if backend.is_ray:
            require_ray()
            check_reachable(resolve_address(backend.ray_address))
    except (ValueError, BackendError) as exc:
        parser.error(str(exc))
    return backend


def require_ray():
    """The `ray` module, or a BackendError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BackendError(INSTALL_HINT) from None
    return ray


def resolve_address(address: str | None) -> str | None:
    """`address`, else $RAY_ADDRESS, else None (a local Ray)."""
    if address:
        return address
    return os.environ.get(RAY_ADDRESS_ENV) or None


def check_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within `timeout` seconds when a host:port address does not accept connections."""
    if address is None or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise BackendError(f"Ray address must be host:port, ray://host:port or auto, got {address!r}")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise BackendError(f"no Ray cluster answers at {address} ({exc}); start one with `ray start --head` "
                           f"or check --ray-address / ${RAY_ADDRESS_ENV}") from None
    if "://" not in address:  # a GCS address: something listens there; is it Ray?
        _probe_gcs(hostport, address, timeout)


def _probe_gcs(hostport: str, address: str, timeout: float) -> None:
    """Ask the GCS at `hostport` for its cluster id, in a thread given `timeout` seconds: a port
    held by something else (or a proxy that accepts every connection) fails here, not in a
    `ray.init` that retries for a minute."""
    try:
        from ray._raylet import GcsClient  # Ray's own client; skipped where a Ray version lacks it
    except ImportError:
        return
    outcome: list = []

    def probe():
        try:
            GcsClient(address=hostport)
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001  (any failure means: not a Ray cluster we can join)
            outcome.append(exc)

    import threading

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    if not outcome:
        raise BackendError(f"the Ray cluster at {address} did not answer within {timeout:.0f} s")
    if outcome[0] is not None and "Auth" in type(outcome[0]).__name__ + str(outcome[0]):
        raise BackendError(f"the Ray cluster at {address} refused this process's credentials: it uses token "
                           "authentication; set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN or "
                           "~/.ray/auth_token), see https://docs.ray.io/en/latest/ray-security/token-auth.html")
    if outcome[0] is not None:
        raise BackendError(f"no Ray cluster answers at {address} ({str(outcome[0]).strip()[:200]}); start one "
                           f"with `ray start --head` or check --ray-address / ${RAY_ADDRESS_ENV}")


def connect_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Join the Ray cluster at `address` (see `resolve_address`) or start a local one; returns `ray`.

    Reuses a connection this process already holds. A local Ray gets `num_cpus` (default: this
    machine's cores), no dashboard, and workers at the local backend's priority (nice 0). Workers get this process's renderer variables (`RENDER_ENV_VARS`), so they render alike.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = resolve_address(address)
    check_reachable(address)
    env_vars = {k: os.environ[k] for k in RENDER_ENV_VARS if k in os.environ}
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env_vars}, "log_to_driver": True,
                              "configure_logging": True, "logging_level": "WARNING"}
    if address is None:
        # Ray runs its workers at nice 15 by default: on a machine shared with other work they would
        # get a fraction of the CPU that the local backend's processes (nice 0) get
        # address="local": a new Ray, never a `ray start` cluster that happens to run on this machine
        kwargs.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                      _system_config={"worker_niceness": 0})
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, TimeoutError) as exc:
        raise BackendError(f"could not join the Ray cluster at {address}: {exc}") from None
    return ray


def node_id() -> str | None:
    """The Ray node id of the calling process (None outside Ray): logged so runs show where they ran."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return None
