"""The leaderboard's PNGs (matplotlib): a Figure-2 plot per env and K, and a per-seed plot per row.

Readable by design: the legend sits outside the axes; each agent keeps one colour and marker on
every plot (assigned from its name, in order of first submission, so adding a row never recolours
an agent); curves are dodged sideways a little so that identical curves stay visible; labels are
agent names (the version is in the table). PNG bytes are not compared anywhere (they change with
matplotlib's version): `page` records a hash of each plot's inputs instead.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Sequence

from benchmark.text import plot_text

PLOT_VERSION = "6"  # bump when the drawing changes, so that `check` asks for a re-render
# the first 10 (matplotlib's tab10) seed each agent's hashed colour; the other 10 go to agents after
# the 10th, in this order, before any colour is used twice. Each of them was picked as the one
# farthest (CIELAB distance) from tab10 and the extras before it, so that the 11th, 12th, 13th ...
# agents differ clearly from every earlier one (a test holds the shipped board to it). The 19th, first
# #7b4173, was 24.8 from the 17th when a 19th agent (rl2) arrived: it is #2020e0 (>= 64 from every other).
# The 20th, first #bf5b17, was 25.8 from tab10's orange when a 20th agent (offline-iql) arrived: it is
# #f800f0, the colour of L* <= 75 farthest from the other 19 (>= 54)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#a6761d", "#f0027f", "#637939", "#1b9e77", "#fc8d62", "#e7969c", "#393b79", "#9e9ac8", "#2020e0", "#f800f0")
HASHED_COLOURS = 10
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str


def styles(agents_in_order: Sequence[str]) -> dict[str, Style]:
    """A fixed (colour, marker) per agent name, from a hash of the name: the first colour (from
    the hashed one of the first 10 on, then the 10 extra ones) that no earlier agent holds, and the
    hashed marker; once all 20 colours are taken, the first free (colour, marker) pair.
    `agents_in_order` lists names in order of first submission, so a new agent never changes an
    earlier agent's style."""
    taken: set[tuple[int, int]] = set()
    out: dict[str, Style] = {}
    nc, nh, nm = len(COLOURS), HASHED_COLOURS, len(MARKERS)
    for name in dict.fromkeys(agents_in_order):
        h = int(hashlib.sha256(name.encode()).hexdigest(), 16)
        c0, m0 = h % nh, (h // nh) % nm
        used_colours = {c for c, _ in taken}
        order = [(c0 + i) % nh for i in range(nh)] + list(range(nh, nc))
        free = [c for c in order if c not in used_colours]
        if free:
            pick = (free[0], m0)
        else:
            pick = next(((c0 + i) % nc, (m0 + j) % nm) for j in range(nm) for i in range(nc)
                        if ((c0 + i) % nc, (m0 + j) % nm) not in taken)
        taken.add(pick)
        out[name] = Style(COLOURS[pick[0]], MARKERS[pick[1]])
    return out


@dataclass(frozen=True)
class Line:
    """One agent's curve on an env plot: mean success per episode and its 95% interval."""

    label: str
    style: Style
    mean: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def _axes_common(ax, k: int, bayes: Sequence[float]) -> None:
    xs = list(range(1, k + 1))
    ax.plot(xs, bayes, "k--", lw=1.3, label="Bayes-optimal", zorder=2)
    ax.set_xticks(xs)
    ax.set_xlim(0.6, k + 0.4)
    ax.set_ylim(-0.04, 1.06)
    ax.set_xlabel("exploration episode")
    ax.set_ylabel("success rate")
    ax.grid(alpha=0.3)


def env_plot(lines: Sequence[Line], bayes: Sequence[float], title: str, interval: str) -> bytes:
    """Success per episode, one dodged line with 95% error bars per row; PNG bytes."""
    plt = _pyplot()
    k = len(bayes)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _axes_common(ax, k, bayes)
    m = len(lines)
    width = min(0.36, 0.07 * max(m - 1, 0))
    for i, line in enumerate(lines):
        dx = (i / (m - 1) - 0.5) * width if m > 1 else 0.0
        xs = [e + 1 + dx for e in range(len(line.mean))]
        err = [[max(0.0, mu - lo) for mu, lo in zip(line.mean, line.low)],
               [max(0.0, hi - mu) for mu, hi in zip(line.mean, line.high)]]
        ax.errorbar(xs, line.mean, yerr=err, color=line.style.colour, marker=line.style.marker, ms=7.5, lw=1.4,
                    capsize=3, label=plot_text(line.label), zorder=3, mec="white", mew=0.6)
    ax.set_title(plot_text(f"{title}\n{interval}"), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)


def seed_plot(seed_curves: Sequence[tuple[str, Sequence[float]]], mean: Line, bayes: Sequence[float], title: str) -> bytes:
    """One row's curve per training seed (thin) and the mean with its interval; PNG bytes."""
    plt = _pyplot()
    k = len(bayes)
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    _axes_common(ax, k, bayes)
    greys = plt.get_cmap("viridis")
    n = len(seed_curves)
    for i, (label, curve) in enumerate(seed_curves):
        dx = ((i / (n - 1) - 0.5) * 0.2) if n > 1 else 0.0
        ax.plot([e + 1 + dx for e in range(len(curve))], curve, "-", marker=".", lw=1, ms=7, alpha=0.85,
                color=greys(i / max(n - 1, 1) * 0.85), label=plot_text(label), zorder=3)
    err = [[max(0.0, mu - lo) for mu, lo in zip(mean.mean, mean.low)],
           [max(0.0, hi - mu) for mu, hi in zip(mean.mean, mean.high)]]
    ax.errorbar([e + 1 for e in range(len(mean.mean))], mean.mean, yerr=err, color=mean.style.colour,
                marker=mean.style.marker, ms=7, lw=2.2, capsize=4, label=plot_text(mean.label), zorder=4, mec="white", mew=0.6)
    ax.set_title(plot_text(title), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)
