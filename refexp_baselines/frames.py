"""The frame VAE: a small conv encoder/decoder for single 64x64 frames (stage `frames`).

The filter's image likelihood log O(o_t | s_t) is computed in this VAE's latent space (a frozen
per-frame code), so that every frame of the dataset is pushed through the conv net once, not at
every gradient step of the filter. See docs/method.md, "Deviations".
"""

from __future__ import annotations

import torch
import torch.nn as nn


class FrameVAE(nn.Module):
    def __init__(self, latent: int = 32, channels: int = 32, image_size: int = 64):
        super().__init__()
        c = channels
        self.latent, self.image_size = latent, image_size
        self.enc = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(2 * c, 2 * c, 4, 2, 1), nn.SiLU(),
        )
        self.feat = image_size // 16
        n = 2 * c * self.feat * self.feat
        self.enc_fc = nn.Linear(n, 2 * latent)
        self.dec_fc = nn.Linear(latent, n)
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(2 * c, 2 * c, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(c, 3, 4, 2, 1),
        )
        self.c = c

    @staticmethod
    def preprocess(pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-0.5, 0.5]."""
        x = pixels.float() / 255.0 - 0.5
        return x.movedim(-1, -3)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(x).flatten(1)
        mu, logstd = self.enc_fc(h).chunk(2, -1)
        return mu, logstd.clamp(-6, 2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dec_fc(z).view(-1, 2 * self.c, self.feat, self.feat)
        return self.dec(h)

    def loss(self, pixels: torch.Tensor, kl_weight: float = 1.0, augment: bool = False) -> tuple[torch.Tensor, dict]:
        """Negative ELBO per frame: Gaussian (unit variance) pixel likelihood + KL to N(0, I).

        `augment`: the encoder sees a photometrically and geometrically perturbed frame
        (`augment_frames`) and the decoder must reconstruct the clean one, so the code learns to
        ignore colour, light and small camera moves (a robustness option for visual shift)."""
        x = self.preprocess(pixels)
        mu, logstd = self.encode(augment_frames(x) if augment else x)
        z = mu + torch.randn_like(mu) * logstd.exp()
        rec = self.decode(z)
        nll = 0.5 * ((rec - x) ** 2).flatten(1).sum(-1).mean() * 255.0 / 8  # sharper than unit var
        kl = (0.5 * (mu**2 + (2 * logstd).exp() - 1) - logstd).sum(-1).mean()
        loss = nll + kl_weight * kl
        return loss, {"nll": nll.item(), "kl": kl.item(), "mse": ((rec - x) ** 2).mean().item()}

    @torch.no_grad()
    def encode_pixels(self, pixels, device="cpu", batch: int = 512) -> torch.Tensor:
        """Posterior means of uint8 frames (N, H, W, 3) (numpy or torch) -> float32 (N, latent) on CPU."""
        out = []
        for i in range(0, len(pixels), batch):
            x = torch.as_tensor(pixels[i:i + batch]).to(device)
            out.append(self.encode(self.preprocess(x))[0].float().cpu())
        return torch.cat(out) if out else torch.zeros(0, self.latent)


def augment_frames(x: torch.Tensor, max_shift: int = 3) -> torch.Tensor:
    """Random per-frame colour and position perturbation of preprocessed frames `(B, 3, H, W)` in
    [-0.5, 0.5]: a random 3x3 colour mix near the identity (gains 0.6-1.4, cross terms +-0.15),
    brightness offset +-0.1, contrast 0.7-1.3, then a translation of up to `max_shift` pixels
    (replicate padding). Uses torch's global generator, which the training stage seeds."""
    B = x.shape[0]
    dev = x.device
    mix = torch.diag_embed(torch.empty(B, 3, device=dev).uniform_(0.6, 1.4))
    mix = mix + torch.empty(B, 3, 3, device=dev).uniform_(-0.15, 0.15) * (1 - torch.eye(3, device=dev))
    y = torch.einsum("bij,bjhw->bihw", mix, x + 0.5) - 0.5
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * torch.empty(B, 1, 1, 1, device=dev).uniform_(0.7, 1.3) + mean
    y = y + torch.empty(B, 1, 1, 1, device=dev).uniform_(-0.1, 0.1)
    if max_shift > 0:
        H, W = x.shape[-2:]
        pad = torch.nn.functional.pad(y, (max_shift,) * 4, mode="replicate")
        dx, dy = torch.randint(0, 2 * max_shift + 1, (2, B))
        y = torch.stack([pad[b, :, dy[b]:dy[b] + H, dx[b]:dx[b] + W] for b in range(B)])
    return y.clamp(-0.5, 0.5)
