"""benchmark.plot: one distinguishable legend entry per run, names drawn as written."""

from __future__ import annotations

import pytest

from benchmark import plot


def _curve(label, detail="", rate=(0.5, 1.0, 1.0)):
    return plot.Curve(label=label, env_id="RefExp/TwoDrawer-v1", success_rate=list(rate), ci_low=[r - 0.05 for r in rate],
                      ci_high=[r + 0.05 for r in rate], bayes_optimal=[0.5, 1.0, 1.0], detail=detail)


@pytest.fixture
def drawn(monkeypatch):
    """The figures plot_curves closes, kept open for inspection."""
    figs = []
    monkeypatch.setattr(plot.plt, "close", figs.append)
    yield figs
    monkeypatch.undo()
    plot.plt.close("all")


def _legend(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]


def test_two_runs_of_one_agent_get_two_distinct_legend_entries_and_both_show(tmp_path, drawn):
    same = [_curve("ours (0.99)", "seeds 0,1,2, eval seed 0"), _curve("ours (0.99)", "seeds 0,1,2, eval seed 1")]
    plot.plot_curves(same, tmp_path / "a.png")
    texts = _legend(drawn[-1])
    assert texts == ["Bayes-optimal", "ours (0.99) [seeds 0,1,2, eval seed 0]", "ours (0.99) [seeds 0,1,2, eval seed 1]"]
    lines = [ln for ln in drawn[-1].axes[0].get_lines() if ln.get_label().startswith("ours")]
    xs = [tuple(ln.get_xdata()) for ln in lines]
    assert xs[0] != xs[1]  # shifted sideways: identical curves do not hide each other
    assert lines[0].get_marker() != lines[1].get_marker()
    # the very same run twice: numbered
    plot.plot_curves([_curve("ours"), _curve("ours")], tmp_path / "b.png")
    assert _legend(drawn[-1])[1:] == ["ours #1", "ours #2"]
    # different agents keep their plain labels
    plot.plot_curves([_curve("ours"), _curve("no-expl", "seeds 0")], tmp_path / "c.png")
    assert _legend(drawn[-1])[1:] == ["ours", "no-expl"]


def test_run_detail_names_what_differs():
    r = {"agent_version": "abcdef123456", "training_seeds": [0, 1], "eval_seed": 3, "trials_per_task": 50, "secret_id": "2589"}
    assert plot.run_detail(r) == "vabcdef12, seeds 0,1, eval seed 3, 50 trials/task, secret 2589"


@pytest.mark.parametrize("name", [r"$\frac{1}{$", "$x$", r"a_b^c $", "$$"])
def test_a_math_string_in_a_name_is_drawn_as_written(tmp_path, drawn, name):
    out = plot.plot_curves([_curve(name)], tmp_path / "m.png", title=name)  # no mathtext parse error
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert _legend(drawn[-1])[1] == name.replace("$", r"\$")  # escaped: matplotlib shows the "$" itself
