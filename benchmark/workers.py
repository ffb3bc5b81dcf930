"""Where trials run: in this process or in spawned workers, batched, and resumable from a JSONL file.

* `TrialRunner` holds the envs (one per trial of a batch) and one agent per training seed, built
  lazily from the agent's spec string (or a given instance). `run(chunk)` runs a chunk of trials of
  one training seed: all at once through `protocol.run_trials` when the agent offers `act_batch`,
  else one after another through `protocol.run_trial`.
* Workers are `spawn`ed processes (fork hangs once a GL context exists). They receive chunks of
  `TrialSpec`s (task ids), never the evaluation secret, and are non-dumpable. An untrusted agent
  runs in one (sandboxed) agent process per worker (`benchmark/sandbox.py`), which sees neither.
* `TrialLog` appends each finished trial to `<out>/<stem>.partial.jsonl` (header first);
  `read_trial_log` gives back the finished trials of an interrupted run with the same header.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from benchmark.protocol import TrialResult, TrialSpec, failed_result, run_trial, run_trials, supports_batch

# After this many failed agent processes, a runner stops restarting the agent and fails its remaining trials.
MAX_AGENT_FAILURES = 3


class TrialRunner:
    """Envs and agents of one process; agents are built per training seed from the spec string.

    `isolation` (resolved by the harness: `benchmark.sandbox.ISOLATIONS` less "auto"): "sandbox" or
    "process" run the agent in its own process (`benchmark.sandbox.start_agent`, one at a time), whose
    crash, timeout or malformed reply fails the trials it was running (`failed:<why>`); "none" builds it here.
    """

    def __init__(self, agent: str | Any, env_id: str, obs_type: str, device: str, allow_env_mismatch: bool = False,
                 isolation: str = "none", act_timeout_s: float = 60.0):
        self.agent_spec = agent
        self.env_id, self.obs_type, self.device = env_id, obs_type, device
        self.allow_env_mismatch = allow_env_mismatch
        self.isolation, self.act_timeout_s = isolation, act_timeout_s
        self.envs: list = []
        self._agents: dict[int, Any] = {}
        self.failures = 0

    def _env(self, i: int):
        import gymnasium as gym

        import refexp_envs  # noqa: F401  (registers the ids in a spawned worker)

        while len(self.envs) <= i:
            self.envs.append(gym.make(self.env_id, obs_type=self.obs_type, disable_env_checker=True))
        return self.envs[i]

    def agent_for(self, training_seed: int):
        if training_seed not in self._agents:
            if isinstance(self.agent_spec, str) and self.isolation in ("sandbox", "process"):
                from benchmark.sandbox import AgentFailure, start_agent

                if self.failures >= MAX_AGENT_FAILURES:
                    raise AgentFailure("gave-up", f"the agent failed {self.failures} times; not restarted")
                for seed in list(self._agents):  # one agent process at a time
                    self._agents.pop(seed).close()
                self._agents[training_seed] = start_agent(
                    self.agent_spec, self.env_id, seed=training_seed, device=self.device,
                    allow_env_mismatch=self.allow_env_mismatch, confine=self.isolation == "sandbox",
                    act_timeout_s=self.act_timeout_s)
            elif isinstance(self.agent_spec, str):
                from benchmark.agents import load_agent

                self._agents[training_seed] = load_agent(self.agent_spec, self.env_id, seed=training_seed,
                                                         device=self.device, allow_env_mismatch=self.allow_env_mismatch)
            else:
                self._agents[training_seed] = self.agent_spec  # an Agent instance, shared by all seeds
        return self._agents[training_seed]

    def add_agent(self, training_seed: int, agent) -> None:
        """Use an already built agent for `training_seed` (the harness's metadata probe)."""
        self._agents[training_seed] = agent

    def run(self, chunk: Sequence[TrialSpec]) -> Iterator[TrialResult]:
        """Run a chunk of trials of one training seed (batched when the agent supports it), yielding
        each result as soon as it is known (one at a time: after each trial, so nothing is lost)."""
        if not chunk:
            return
        seeds = {s.training_seed for s in chunk}
        if len(seeds) != 1:
            raise ValueError(f"a chunk holds trials of one training seed, got {sorted(seeds)}")
        seed = chunk[0].training_seed
        batched = self._guarded(seed, lambda: len(chunk) > 1 and supports_batch(self.agent_for(seed)), chunk)
        if isinstance(batched, list):  # the agent did not start: the chunk failed
            yield from batched
        elif batched:
            yield from self._guarded(seed, lambda: run_trials([self._env(i) for i in range(len(chunk))],
                                                              self.agent_for(seed), chunk), chunk)
        else:
            for spec in chunk:
                yield from self._guarded(seed, lambda: [run_trial(self._env(0), self.agent_for(seed), spec)], [spec])

    def _guarded(self, seed: int, call, specs: Sequence[TrialSpec]):
        """`call()`, or, when the agent's process fails, `specs` as failed trials (a list; the agent is
        dropped and restarted for the next trials, up to `MAX_AGENT_FAILURES` times)."""
        from benchmark.sandbox import AgentFailure

        try:
            return call()
        except AgentFailure as exc:
            if exc.kind != "gave-up":
                self.failures += 1
                print(f"agent failed ({exc.kind}): {exc}", file=sys.stderr)
            agent = self._agents.pop(seed, None)
            if agent is not None and agent is not self.agent_spec:
                agent.close()
            return [failed_result(s, exc.kind) for s in specs]

    def close(self) -> None:
        for agent in self._agents.values():
            close = getattr(agent, "close", None)
            if callable(close) and agent is not self.agent_spec:  # a caller's instance stays open
                close()
        for env in self.envs:
            env.close()


def chunks(specs: Sequence[TrialSpec], size: int) -> list[list[TrialSpec]]:
    """`specs` cut into runs of at most `size` consecutive trials of the same training seed."""
    out: list[list[TrialSpec]] = []
    for spec in specs:
        if out and len(out[-1]) < size and out[-1][0].training_seed == spec.training_seed:
            out[-1].append(spec)
        else:
            out.append([spec])
    return out


def _worker_main(agent: str, env_id: str, obs_type: str, device: str, allow: bool, isolation: str,
                 act_timeout_s: float, jobs, results, parent: int) -> None:
    """A spawned worker: run chunks from `jobs` until a None arrives; report each trial on `results`.

    Stops early when its parent process `parent` is gone (killed without cleaning up).
    """
    from benchmark.sandbox import harden_process

    harden_process()  # it holds task ids
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # workers already use every core between them
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    runner = None
    try:
        runner = TrialRunner(agent, env_id, obs_type, device, allow, isolation, act_timeout_s)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
        while os.getppid() == parent and (chunk := jobs.get()) is not None:
            for res in runner.run(chunk):
                results.put(("ok", res))
    except BaseException:  # noqa: BLE001  (report anything, KeyboardInterrupt included)
        results.put(("error", traceback.format_exc()))
    finally:
        if runner is not None:
            runner.close()


def resolve_workers(workers: int, jobs: int) -> int:
    """0 = every core this process may use; never more workers than jobs."""
    if workers == 0:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:
            workers = os.cpu_count() or 1
    return max(1, min(workers, jobs))


def run_parallel(agent_spec: str, env_id: str, obs_type: str, device: str, allow_env_mismatch: bool,
                 todo: list[list[TrialSpec]], workers: int, on_result: Callable[[TrialResult], None],
                 isolation: str = "none", act_timeout_s: float = 60.0) -> None:
    """Run the chunks `todo` over `workers` spawned processes; `on_result` sees every trial (`isolation`:
    as `TrialRunner`'s, one agent process per worker)."""
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    for chunk in todo:
        jobs.put(chunk)
    for _ in range(workers):
        jobs.put(None)
    args = (agent_spec, env_id, obs_type, device, allow_env_mismatch, isolation, act_timeout_s, jobs, results, os.getpid())
    procs = [ctx.Process(target=_worker_main, args=args, daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        remaining = sum(len(c) for c in todo)
        while remaining:
            try:
                kind, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    raise RuntimeError("every worker exited before the run finished (crashed?)") from None
                continue
            if kind == "error":
                raise RuntimeError(f"a worker failed:\n{payload}")
            on_result(payload)
            remaining -= 1
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        jobs.cancel_join_thread()
        results.cancel_join_thread()


# ---------------------------------------------------------------------------------- resume file
def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` beside `path`, then rename over it: a reader never sees a half-written file.
    The file gets the usual permissions (0666 minus the umask), not the temp file's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _result_from_record(rec: dict) -> TrialResult:
    return TrialResult(int(rec["training_seed"]), int(rec["trial"]), int(rec["task"]), tuple(rec["successes"]),
                       tuple(float(x) for x in rec["returns"]), str(rec["rollout"]))


def read_trial_log(path: Path, header: dict) -> dict[tuple[int, int], TrialResult]:
    """Finished trials of an interrupted run with the same header; a torn last line is dropped."""
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    if not lines:
        return {}
    try:
        found = json.loads(lines[0])
    except json.JSONDecodeError:
        found = None
    if found != header:
        raise ValueError(f"{path} holds the trials of another run ({found}); delete it, or choose another --out")
    done: dict[tuple[int, int], TrialResult] = {}
    for line in lines[1:]:
        try:
            res = _result_from_record(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line torn by the interruption
        done[(res.training_seed, res.trial)] = res
    return done


class TrialLog:
    """Appends finished trials to a JSONL file (header first), flushed line by line.

    Opening rewrites the file (atomically) with the header and the trials kept from an interrupted
    run, so a line torn by the interruption is dropped rather than appended to.
    """

    def __init__(self, path: Path | None, header: dict, kept: Sequence[TrialResult] = ()):
        self.path = path
        self._fh = None
        if path is not None:
            lines = [json.dumps(header)] + [json.dumps(dataclasses.asdict(r)) for r in kept]
            write_text_atomic(path, "\n".join(lines) + "\n")
            self._fh = open(path, "a")

    def add(self, res: TrialResult) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(dataclasses.asdict(res)) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
