"""Agent bundles: round trip through a file, the Agent protocol, resume of a stage, bad input errors."""

import dataclasses
import json

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from refexp_envs.datasets.episode import Episode, InMemoryTaskBuffers  # noqa: E402
from refexp_baselines import configs as C  # noqa: E402
from refexp_baselines.agent import BeliefAgent, build_modules, load_pretrained, make_bundle  # noqa: E402
from refexp_baselines.train import check_stage_config, main, parse_overrides, train_frames  # noqa: E402

TINY = dataclasses.replace(
    C.variant("ours"),
    frames=C.FramesConfig(latent=4, channels=4, steps=2, batch=8),
    belief=C.BeliefConfig(deter=8, stoch=2, hidden=8, steps=2, batch=2),
    agent=C.AgentConfig(hidden=16, batch=8, steps=2, pool_trajectories=4),
)


def obs_seq(n=6, seed=0):
    g = np.random.default_rng(seed)
    return [{"pixels": g.integers(0, 255, (64, 64, 3), dtype=np.uint8),
             "proprio": g.normal(size=4).astype(np.float32)} for _ in range(n)]


def play(agent, seq):
    agent.reset()
    out = []
    for i, o in enumerate(seq):
        out.append(agent.act(o, float(i % 2), episode_start=(i % 3 == 0)))
    return np.stack(out)


@pytest.mark.parametrize("name", ["ours", "oracle-task"])
def test_bundle_round_trip(tmp_path, name):
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, agent_name=name, agent=dataclasses.replace(TINY.agent, oracle=name == "oracle-task"))
    vae, filt, actor = build_modules(cfg, 2)
    bundle = make_bundle(cfg, 2, 50, vae, filt, actor)
    path = tmp_path / "a.pt"
    torch.save(bundle, path)
    a1, a2 = BeliefAgent(bundle), load_pretrained(str(path), "RefExp/TwoDrawer-v0")
    if name == "oracle-task":
        assert a2.uses_task and not a2.eligible
        a1.set_task(1), a2.set_task(1)
    else:
        assert a2.eligible and not a2.uses_task
    seq = obs_seq()
    x1, x2 = play(a1, seq), play(a2, seq)
    assert x1.dtype == np.float32 and x1.shape == (6, 4) and np.all(np.abs(x1) <= 1)
    np.testing.assert_allclose(x1, x2, atol=1e-6)
    np.testing.assert_allclose(play(a2, seq), x2, atol=1e-6)  # reset() forgets everything
    # memory across episodes: a different first episode changes later actions
    other = obs_seq(seed=1)[:3] + seq[3:]
    assert not np.allclose(play(a2, other)[3:], x2[3:])
    # fp16 shipping form stays close
    half = BeliefAgent(make_bundle(cfg, 2, 50, vae, filt, actor, half=True))
    if name == "oracle-task":
        half.set_task(1)
    np.testing.assert_allclose(play(half, seq), x1, atol=0.05)


def test_bad_input_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown agent"):
        load_pretrained("not-an-agent", "RefExp/TwoDrawer-v0")
    with pytest.raises(ValueError, match="unknown agent"):
        C.variant("nope")
    vae, filt, actor = build_modules(TINY, 2)
    path = tmp_path / "b.pt"
    torch.save(make_bundle(TINY, 2, 50, vae, filt, actor), path)
    with pytest.raises(ValueError, match="trained on"):
        load_pretrained(str(path), "RefExp/ThreeDrawer-v0")
    with pytest.raises(ValueError, match="another config"):
        check_stage_config(tmp_path / "s", {"a": 1})
        check_stage_config(tmp_path / "s", {"a": 2})
    with pytest.raises(ValueError, match="unknown config key"):
        parse_overrides(TINY, ["agent.nope=1"])
    assert main(["--agent", "ours", "--dataset", "refexp/three-drawer/expert-v0", "--runs-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["--agent", "bogus"])


def test_stage_resume(tmp_path):
    g = np.random.default_rng(0)
    eps = [Episode(g.integers(0, 255, (4, 64, 64, 3), dtype=np.uint8), np.zeros((4, 4), np.float32),
                   np.zeros((3, 4), np.float32), np.zeros(3, np.float32), t) for t in (0, 1, 0, 1)]
    bufs = InMemoryTaskBuffers(eps, 2)
    cfg2 = dataclasses.replace(TINY, frames=dataclasses.replace(TINY.frames, steps=100))
    train_frames(cfg2, bufs, tmp_path, "cpu", progress=False)  # step 100 checkpointed, codes written
    st = torch.load(tmp_path / "state.pt", weights_only=False)
    assert st["step"] == 100
    (tmp_path / "codes.npz").unlink()
    (tmp_path / "model.pt").unlink()  # "interrupted" after the checkpoint at 100
    cfg3 = dataclasses.replace(TINY, frames=dataclasses.replace(TINY.frames, steps=200))
    out = train_frames(cfg3, bufs, tmp_path, "cpu", progress=False)
    steps = [int(line.split(",")[0]) for line in (tmp_path / "log.csv").read_text().splitlines()[1:]]
    assert steps == [100, 200]  # resumed at 100, not restarted
    assert out["latents"].shape == (4, 4, 4)
    assert json.loads((tmp_path / "timing.json").read_text())["train_s"] > 0


def test_end_to_end_tiny_run_and_rerun(tmp_path):
    """All three stages on synthetic buffers; a rerun finds every stage finished."""
    from refexp_baselines.train import run

    g = np.random.default_rng(1)
    eps = [Episode(g.integers(0, 255, (5, 64, 64, 3), dtype=np.uint8), g.normal(size=(5, 4)).astype(np.float32),
                   g.uniform(-1, 1, (4, 4)).astype(np.float32), (g.random(4) > 0.5).astype(np.float32), t)
           for t in (0, 1, 0, 1, 0, 1)]
    bufs = InMemoryTaskBuffers(eps, 2)
    cfg = dataclasses.replace(TINY, eval_trials=0, agent=dataclasses.replace(TINY.agent, steps=3, bc_steps=1))
    res = run(cfg, buffers=bufs, runs_dir=str(tmp_path), device="cpu", progress=False, final_trials=0)
    agent_dir = tmp_path / res["run_dir"].split(str(tmp_path) + "/")[1]
    assert (agent_dir / "agent.pt").exists() and (agent_dir / "state.pt").exists()
    assert set(res["stage_timing"]) == {"frames", "belief", "agent"}
    agent = load_pretrained(str(agent_dir / "agent.pt"), "RefExp/TwoDrawer-v0")
    assert play(agent, obs_seq()).shape == (6, 4)
    res2 = run(cfg, buffers=bufs, runs_dir=str(tmp_path), device="cpu", progress=False, final_trials=0)
    assert res2["wall_this_invocation_s"]["belief_s"] < 1.0  # finished stages are not retrained


def test_shift_env_scores_the_unshifted_training_checkpoint():
    from refexp_baselines.agent import load_pretrained

    agent = load_pretrained("ours", "RefExp/TwoDrawerShift-v0")
    assert agent.env_id == "RefExp/TwoDrawer-v0" and agent.eligible
    with pytest.raises(FileNotFoundError, match="no shipped checkpoint"):
        load_pretrained("no-cql", "RefExp/ThreeDrawer-v0")
    three = load_pretrained("ours", "RefExp/ThreeDrawer-v0")
    assert three.env_id == "RefExp/ThreeDrawer-v0" and three.cfg.belief.steps == 4000


def test_results_name_every_seed_checkpoint_they_scored():
    """`--seeds 0 1` loads a different shipped checkpoint per seed; the version must name both."""
    import hashlib

    from benchmark.run import evaluate
    from refexp_baselines.agent import shipped_path

    res = evaluate("ours", "RefExp/TwoDrawer-v0", episodes=1, trials=1, seeds=(0, 1), workers=1, progress=False)
    want = [hashlib.sha256(shipped_path("ours", "RefExp/TwoDrawer-v0", s).read_bytes()).hexdigest()[:12]
            for s in (None, 1)]
    assert res["agent_version"] == "/".join(want)
    one = evaluate("ours", "RefExp/TwoDrawer-v0", episodes=1, trials=1, seeds=(0,), workers=1, progress=False)
    assert one["agent_version"] == want[0]


def test_frame_augmentation_perturbs_and_is_an_opt_in_stage_option():
    from refexp_baselines.frames import FrameVAE, augment_frames

    torch.manual_seed(0)
    x = FrameVAE.preprocess(torch.randint(0, 256, (5, 64, 64, 3), dtype=torch.uint8))
    y = augment_frames(x)
    assert y.shape == x.shape and y.min() >= -0.5 and y.max() <= 0.5
    assert (y - x).abs().mean() > 0.02  # visibly different
    torch.manual_seed(0)
    x2 = FrameVAE.preprocess(torch.randint(0, 256, (5, 64, 64, 3), dtype=torch.uint8))
    assert torch.equal(augment_frames(x2), y)  # seeded
    vae = FrameVAE(latent=4, channels=4)
    loss, info = vae.loss(torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8), augment=True)
    assert torch.isfinite(loss)
    # off by default and then absent from the stage hash (older runs keep their directories)
    base = C.variant("ours")
    aug = dataclasses.replace(base, frames=dataclasses.replace(base.frames, augment=True))
    assert not base.frames.augment
    assert "augment" not in C.canonical(C.to_dict(base))["frames"]
    assert C.stage_keys(aug)["frames"] != C.stage_keys(base)["frames"]
