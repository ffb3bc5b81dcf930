"""Does the PEARL posterior read the task from the states? (issue 24 part 3's probe; a measurement, not the library)

    python dev/pearl_probe.py RUN_DIR [RUN_DIR ...] [--per-task 25] [--seed 987654] [--json OUT]

Held data: `per_task` fresh episodes per task collected here by the scripted behaviour policies (noise 0.2, the
expert dataset's recipe) with reset seeds from `--seed` (not the dataset's), encoded by the run's frozen frame
VAE. Each held episode alone is one context (its 50 transitions). The task a posterior names is read with the
run's own reward decoder (in `state.pt`): at the posterior mean z, the task j whose held episodes the decoder
expects to pay most (mean predicted P(r = 1) over their transitions) is the posterior's task. (A second readout,
the nearest of per-task centroids of posterior means over 200 training episodes per task with rewards as
recorded, is printed too.) Three contexts per held episode of task i:

  recorded      task i's episode, its rewards as recorded                 -> accuracy = classified as i
  zeroed        task i's episode, rewards zeroed (impossible under i:     -> "reads states" = classified as i,
                drawer i opened and nothing paid)                            the drawer that moved
  other-zeroed  another task j's episode, rewards zeroed (what a failed   -> accuracy = classified as i (not j)
                episode looks like under task i: the relabelled truth)

A posterior that reads the task from the states classifies `zeroed` as i (as often as `recorded`) and
`other-zeroed` as j (accuracy near 0); one that reads rewards flips both. Prints a table; `--json` writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refexp_baselines.families import pearl  # noqa: E402


def run_codes(cfg: pearl.PEARLConfig) -> dict:
    from refexp_baselines import configs as C
    from refexp_baselines import train as T

    rcfg = C.variant("ours", env_id=cfg.env, dataset=cfg.dataset, seed=cfg.seed)
    d = T.stage_dirs(rcfg, cfg.runs_dir)["frames"]
    return dict(np.load(d / "codes.npz"))


def posterior_means(model, obs, act, rew, chunk=256):
    out_m, out_v = [], []
    with torch.no_grad():
        for i in range(0, len(obs), chunk):
            o, a, r = (torch.as_tensor(x[i:i + chunk], dtype=torch.float32) for x in (obs, act, rew))
            m, v = model.encoder.posterior(model.transitions(o[:, :-1], a, r, o[:, 1:]))
            out_m.append(m), out_v.append(v)
    return torch.cat(out_m).numpy(), torch.cat(out_v).numpy()


def probe(run_dir: Path, held, per_train: int = 200, seed: int = 0) -> dict:
    from refexp_baselines.frames import FrameVAE

    cfg, meta, model = pearl.load_model(run_dir)
    vae = FrameVAE(meta["vae_latent"], meta["vae_channels"])
    vae.load_state_dict(torch.load(run_dir / "vae.pt", map_location="cpu", weights_only=True))
    vae.eval()
    codes = run_codes(cfg)
    N = int(codes["num_tasks"])
    rng = np.random.default_rng(seed)
    tr_obs = np.concatenate([codes["latents"], codes["proprio"]], -1)
    cents = []
    for t in range(N):
        ids = rng.choice(np.flatnonzero(codes["tasks"] == t), per_train, replace=False)
        m, _ = posterior_means(model, tr_obs[ids], codes["actions"][ids], codes["rewards"][ids])
        cents.append(m.mean(0))
    cents = np.stack(cents)
    E = len(held.tasks)
    lat = np.stack([vae.encode_pixels(held.pixels[e]).numpy() for e in range(E)])
    obs = np.concatenate([lat, held.proprio], -1)
    tasks = held.tasks

    from refexp_baselines import nets

    dec = nets.mlp(2 * meta["obs_dim"] + 4 + cfg.z_dim, cfg.enc_hidden, 1, layers=3)
    dec.load_state_dict(torch.load(run_dir / "state.pt", map_location="cpu", weights_only=True)["decoder"])
    to = torch.as_tensor(obs, dtype=torch.float32)
    trans = torch.cat([model.norm(to[:, :-1]), torch.as_tensor(held.actions, dtype=torch.float32),
                       model.norm(to[:, 1:])], -1)  # (E, T, D) decoder inputs less z
    per_task = [trans[tasks == j].reshape(-1, trans.shape[-1]) for j in range(N)]

    def decoder_task(m):
        with torch.no_grad():
            zt = torch.as_tensor(m, dtype=torch.float32)
            pay = []
            for x in per_task:
                xi = x[None].expand(len(zt), *x.shape)
                zi = zt[:, None].expand(len(zt), x.shape[0], zt.shape[1])
                pay.append(torch.sigmoid(dec(torch.cat([xi, zi], -1)).squeeze(-1)).mean(1))
        return torch.stack(pay, 1).argmax(1).numpy()

    def classify(o, a, r, readout="decoder"):
        m, v = posterior_means(model, o, a, r)
        if readout == "centroid":
            return ((m[:, None] - cents[None]) ** 2).sum(-1).argmin(1), v.mean(1)
        return decoder_task(m), v.mean(1)

    out = {"run": str(run_dir), "config": {k: getattr(cfg, k) for k in ("mix_other", "actor_loss", "kl_weight", "steps")},
           "held_episodes": int(E)}
    zero = np.zeros_like(held.rewards)
    for readout, pre in (("decoder", ""), ("centroid", "centroid_")):
        pred, var = classify(obs, held.actions, held.rewards, readout)
        out[pre + "recorded_acc"] = float((pred == tasks).mean())
        out["recorded_var"] = float(var.mean())
        pred, var = classify(obs, held.actions, zero, readout)
        out[pre + "zeroed_reads_states"] = float((pred == tasks).mean())
        out["zeroed_var"] = float(var.mean())
        # other-zeroed: task j's episode, zero rewards, as the context of a trial of task i != j; correct: not j
        out[pre + "other_zeroed_acc"] = float((pred != tasks).mean())
    prior = decoder_task(np.random.default_rng(seed).normal(size=(2000, cfg.z_dim)))
    out["prior_draw_task_freq"] = np.bincount(prior, minlength=N).tolist()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--per-task", type=int, default=25)
    p.add_argument("--seed", type=int, default=987654, help="first reset seed of the held episodes")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    from refexp_baselines.data import collect_local

    cfg0, _, _ = pearl.load_model(a.runs[0])
    held = collect_local(cfg0.env, a.per_task, seed=a.seed, workers=1)
    rows = [probe(r, held) for r in a.runs]
    print(f"held: {a.per_task} episodes per task, reset seeds from {a.seed}; nearest-centroid task of the posterior mean")
    print(f"{'run':32s} {'readout':9s} {'recorded acc':>12s} {'zeroed: reads states':>20s} {'other-zeroed acc':>16s} "
          f"{'var rec/zero':>13s} {'prior draws':>12s}")
    for r in rows:
        for pre, name in (("", "decoder"), ("centroid_", "centroid")):
            print(f"{r['run'][-32:]:32s} {name:9s} {r[pre + 'recorded_acc']:12.2f} {r[pre + 'zeroed_reads_states']:20.2f} "
                  f"{r[pre + 'other_zeroed_acc']:16.2f} {r['recorded_var']:6.3f}/{r['zeroed_var']:.3f} "
                  f"{str(r['prior_draw_task_freq']):>12s}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
