"""benchmark.agents: the resolver, the built-in agents' logic, the SB3 observation wrappers."""

from __future__ import annotations

import sys
import types

import gymnasium as gym
import numpy as np
import pytest

from benchmark import agents
from benchmark.agents import (
    REFERENCE_AGENTS,
    Agent,
    PrevRewardWrapper,
    ScriptedExplorerAgent,
    TrialWrapper,
    agent_metadata,
    load_agent,
)

ENV = "RefExp/TwoDrawer-v0"


@pytest.mark.parametrize("name", ["random", "always-first", "scripted-explorer", "oracle"])
def test_builtins_resolve_and_follow_the_protocol(name):
    agent = load_agent(name, ENV, seed=0)
    assert isinstance(agent, Agent)
    meta = agent_metadata(agent, name)
    assert meta["name"] == name
    assert meta["eligible"] == (name != "oracle")
    assert meta["uses_dataset"] is False
    if name == "oracle":
        agent.set_task(1)
    agent.reset()
    obs = {"drawers": np.zeros(2, np.float32), "proprio": np.array([-0.05, 0.55, 0.2, 1.0], np.float32)}
    action = agent.act(obs, 0.0, True)
    assert action.shape == (4,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)


def test_unknown_agent_lists_valid_names():
    with pytest.raises(ValueError) as err:
        load_agent("no-such-agent", ENV)
    for name in ["random", "always-first", "scripted-explorer", "oracle", *REFERENCE_AGENTS]:
        assert name in str(err.value)


def test_unknown_env_is_clear():
    with pytest.raises(ValueError, match="unknown env id"):
        load_agent("always-first", "RefExp/NoSuchEnv-v0")


def test_missing_sb3_zip_is_clear(tmp_path):
    with pytest.raises(ValueError, match="no Stable-Baselines3 model"):
        load_agent(str(tmp_path / "missing.zip"), ENV)


def test_import_path_agent_gets_the_kwargs_it_accepts(tmp_path, monkeypatch):
    (tmp_path / "my_agents_mod.py").write_text(
        "import numpy as np\n"
        "class Takes:\n"
        "    name = 'takes'\n"
        "    def __init__(self, env_id, seed=0):\n"
        "        self.env_id, self.seed_ = env_id, seed\n"
        "    def reset(self): pass\n"
        "    def act(self, obs, reward, episode_start): return np.zeros(4, np.float32)\n"
        "class Plain:\n"
        "    def reset(self): pass\n"
        "    def act(self, obs, reward, episode_start): return np.zeros(4, np.float32)\n"
        "class NoAct:\n"
        "    def reset(self): pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    a = load_agent("my_agents_mod:Takes", ENV, seed=7, device="cpu")
    assert (a.env_id, a.seed_) == (ENV, 7)
    assert agent_metadata(a, "my_agents_mod:Takes")["name"] == "takes"
    b = load_agent("my_agents_mod:Plain", ENV, seed=7)
    meta = agent_metadata(b, "my_agents_mod:Plain")
    assert meta["name"] == "my_agents_mod:Plain" and meta["version"] == "unversioned" and meta["eligible"]
    with pytest.raises(TypeError, match="no act"):
        load_agent("my_agents_mod:NoAct", ENV)
    with pytest.raises(AttributeError, match="no attribute"):
        load_agent("my_agents_mod:Missing", ENV)
    with pytest.raises(ImportError, match="cannot import module"):
        load_agent("no_such_module_xyz:Agent", ENV)


def test_reference_names_need_refexp_baselines(monkeypatch):
    import refexp_baselines

    monkeypatch.setitem(sys.modules, "refexp_baselines.agent", None)  # import fails
    monkeypatch.delattr(refexp_baselines, "agent", raising=False)  # even if another test imported it
    with pytest.raises(ImportError, match="refexp_baselines"):
        load_agent("ours", ENV)


def test_reference_names_and_bundles_resolve_through_the_entry_point(monkeypatch, tmp_path):
    calls = []

    class Fake:
        name, version, eligible, trained_env_id = "ours", "abc", True, ENV

        def __init__(self, **kwargs):
            calls.append(kwargs)

        def reset(self):
            pass

        def act(self, obs, reward, episode_start):
            return np.zeros(4, np.float32)

    fake = types.ModuleType("refexp_baselines.agent")
    fake.PretrainedAgent = Fake
    import refexp_baselines

    monkeypatch.setitem(sys.modules, "refexp_baselines.agent", fake)
    monkeypatch.setattr(refexp_baselines, "agent", fake, raising=False)
    agent = load_agent("no-cql", ENV, seed=3, device="cpu")
    bundle = tmp_path / "agent.pt"
    bundle.write_bytes(b"x")
    load_agent(str(bundle), None, seed=1, allow_env_mismatch=True)
    assert calls == [
        {"env_id": ENV, "seed": 3, "device": "cpu", "allow_env_mismatch": False, "name": "no-cql"},
        {"env_id": None, "seed": 1, "device": "cpu", "allow_env_mismatch": True, "checkpoint": str(bundle)},
    ]
    meta = agent_metadata(agent, "no-cql")
    assert meta["version"] == "abc" and meta["trained_env_id"] == ENV


def test_scripted_explorer_tries_drawers_in_turn_then_repeats():
    """Its actions are drawer i's scripted policy's: 0, then 1 (0 never paid), then 1 again (it paid)."""
    from refexp_envs.policies import ScriptedDrawerPolicy

    agent = ScriptedExplorerAgent("RefExp/ThreeDrawer-v0")
    obs = {"proprio": np.array([0.0, 0.55, 0.2, 1.0], np.float32)}
    drawer = [ScriptedDrawerPolicy(i, 3)(obs) for i in range(3)]
    assert not np.allclose(drawer[0], drawer[1])  # the three policies are told apart by their actions

    def opens(a):
        return [i for i in range(3) if np.allclose(a, drawer[i])]

    agent.reset()
    assert opens(agent.act(obs, 0.0, True)) == [0]
    agent.act(obs, 0.0, False)  # drawer 0 never pays
    assert opens(agent.act(obs, 0.0, True)) == [1]
    agent.act(obs, 1.0, False)  # drawer 1 pays
    assert opens(agent.act(obs, 0.0, True)) == [1]  # exploit
    agent.reset()  # a new trial forgets
    assert opens(agent.act(obs, 0.0, True)) == [0]


def test_agent_specs_are_checked_without_imports(tmp_path):
    from benchmark.agents import check_agent_spec

    assert check_agent_spec(" ours ") == "ours"
    for bad, msg in [("", "non-empty"), ("nope", "unknown agent"), (str(tmp_path / "x.pt"), "no agent bundle"),
                     (str(tmp_path / "x.zip"), "no Stable-Baselines3 model"), (":Cls", "package.module:Class")]:
        with pytest.raises(ValueError, match=msg):
            check_agent_spec(bad)


def test_prev_reward_wrapper_and_augment():
    env = PrevRewardWrapper(gym.make(ENV, obs_type="state"))
    obs, _ = env.reset(seed=0, options={"task": 0})
    assert set(obs) == {"drawers", "proprio", "prev_reward", "episode_start"}
    assert obs["episode_start"][0] == 1.0 and obs["prev_reward"][0] == 0.0
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(np.zeros(4, np.float32))
    assert obs["episode_start"][0] == 0.0
    assert env.observation_space.contains(obs)
    env.close()
    with pytest.raises(TypeError):
        agents.augment_observation(np.zeros(3), 0.0, True)


def test_trial_wrapper_runs_k_episodes_of_one_task():
    env = TrialWrapper(gym.make(ENV, obs_type="state"), episodes=2)
    obs, info = env.reset(seed=0, options={"task": 1})
    policy = load_agent("always-first", ENV)
    steps, starts, done = 0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, 0.0, False))
        steps += 1
        starts += int(obs["episode_start"][0])
        assert env.unwrapped.task == 1
        done = terminated or truncated
    assert steps == 2 * 50 and starts == 1 and info["trial_episode"] == 1
    env.close()
    with pytest.raises(ValueError):
        TrialWrapper(gym.make(ENV, obs_type="state"), episodes=0)


def test_benchmark_never_imports_the_method_or_the_leaderboard():
    """Imports flow refexp_envs -> benchmark -> refexp_baselines / leaderboard: the reference agents
    are an entry-point string, and benchmark.protocol needs numpy alone."""
    import ast
    from pathlib import Path

    root = Path(agents.__file__).parent
    for path in sorted(root.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        assert not names & {"refexp_baselines", "leaderboard"}, path.name
        if path.name == "protocol.py":
            assert names <= {"__future__", "hashlib", "dataclasses", "typing", "numpy", "os"}, names


def test_the_harness_knows_every_reference_agent_the_method_defines():
    """benchmark never imports refexp_baselines, so its list of names is a copy: they must agree."""
    from refexp_baselines.configs import AGENT_NAMES

    assert set(REFERENCE_AGENTS) == set(AGENT_NAMES)


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore is private to its module: no module of the four packages
    imports one from another module (issue 10: also not inside refexp_envs/datasets/)."""
    import ast
    from pathlib import Path

    root = Path(agents.__file__).parents[1]
    packages = ("refexp_envs", "benchmark", "refexp_baselines", "leaderboard")
    offences = []
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in packages:
                    offences += [f"{path.relative_to(root)}: from {node.module} import {a.name}"
                                 for a in node.names if a.name.startswith("_")]
    assert not offences, offences


def test_schema_knows_which_builtin_agents_use_the_layout():
    """`benchmark.schema.LAYOUT_AWARE_AGENTS` (how a schema-2 file is read) names exactly the built-in
    agents that declare `uses_layout`."""
    from benchmark.agents import BUILTIN_AGENTS
    from benchmark.schema import LAYOUT_AWARE_AGENTS

    assert {name for name, cls in BUILTIN_AGENTS.items() if getattr(cls, "uses_layout", False)} == LAYOUT_AWARE_AGENTS
