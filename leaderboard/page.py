"""The generated pages: `index.html` (sortable, filterable tables and a plot per env), a detail page
per row (`rows/<id>.html`), `README.md` (the same tables in markdown) and `render.json`.

Static files only: the page works offline from any static host; sorting and filtering are the
vendored plain-DOM script `static/leaderboard.js` (copied to `assets/`). Pages are a pure function of the leaderboard's
state, so `check` re-renders them in memory and compares bytes. PNGs are compared by the hash of
their inputs, recorded in `render.json` (a PNG whose inputs did not change is not redrawn).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shlex
from pathlib import Path
from typing import Sequence

from benchmark.schema import MIN_TRIALS
from benchmark.text import md_cell
from leaderboard import plots as P
from leaderboard import rows as R

MANIFEST = "render.json"
GENERATED_DIRS = ("plots", "rows", "assets")
STATIC = Path(__file__).resolve().parent / "static"  # the vendored script and style, copied to assets/
esc = html.escape


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-").lower()


def short_env(env_id: str) -> str:
    return env_id.split("/")[-1]


def plot_path(proto: str, env: str, k: int, cls: str = "pixels") -> str:
    return f"plots/{proto}/{slug(short_env(env))}_K{k}{'' if cls == 'pixels' else '_' + cls}.png"


NOTES_PATH = Path(__file__).resolve().parent / "notes.json"


def load_notes(path: Path = NOTES_PATH) -> dict:
    """The maintainers' notes (`notes.json`): {"envs": {env: text}, "rows": [{agent, env_id, kind, text}]}."""
    return json.loads(path.read_text()) if path.is_file() else {"envs": {}, "rows": []}


def row_notes(row: dict[str, str], notes: dict) -> list[str]:
    """The notes on one row: those naming its agent on its env (or on every env)."""
    return [n["text"] for n in notes["rows"] if n["agent"] == row["agent"] and n["env_id"] in (None, row["env_id"])]


def row_plot_path(rid: str) -> str:
    return f"plots/rows/{rid}.png"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_json(obj) -> str:
    return _sha(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def record_bytes(signed: dict) -> bytes:
    """How a signed verification record is stored (one serialisation, used for its hash too)."""
    return (json.dumps(signed, indent=1, sort_keys=True) + "\n").encode()


def _interval_words(proto: str) -> str:
    return ("mean over training seeds of task-balanced rates, 95% Student-t interval over seeds (clipped to [0, 1]), "
            "re-derived from the raw data")


PLOT_INTERVAL = "mean over training seeds; 95% Student-t interval over seeds"
CLASS_WORDS = {"pixels": "", "privileged": "privileged: handed the handles' positions (uses_layout)"}
SCORE_WORDS = {"exploration": "exploration score", "auc": "area under the curve"}


def _cell(x: float, lo: float, hi: float) -> str:
    return f"{x:.2f} [{lo:.2f}, {hi:.2f}]"


def _line(row: dict[str, str], style: P.Style, label: str) -> P.Line:
    return P.Line(label, style, R.floats(row["success_rate"]), R.floats(row["ci_low"]), R.floats(row["ci_high"]))


def _labels(ranked: Sequence[tuple[int, dict[str, str]]]) -> list[str]:
    """Agent names; a name that appears twice in one table gets its short version."""
    names = [r["agent"] for _, r in ranked]
    return [r["agent"] if names.count(r["agent"]) == 1 else f"{r['agent']} {r['agent_version'][:6]}" for _, r in ranked]


# ------------------------------------------------------------------------------------- build
def build(root: Path, state, draw: bool = True) -> tuple[dict[Path, bytes], list[Path]]:
    """Every generated file of `state` ({path: bytes}) and the generated files to delete.

    With `draw=False` no PNG is drawn (for `check`): the returned files are the text pages and
    the manifest, which records each PNG's input hash either way."""
    styles = P.styles([r["agent"] for r in state.rows])
    grouped = R.groups(state.rows)
    old = _read_manifest(root)
    plot_jobs: dict[str, tuple[str, object]] = {}
    for proto, env, k, cls, ranked in grouped:
        lines = [_line(r, styles[r["agent"]], lab) for (_, r), lab in zip(ranked, _labels(ranked))]
        bayes = R.floats(ranked[0][1]["bayes_optimal"])
        title = f"{short_env(env)}, K = {k}, protocol {proto}" + ("" if cls == "pixels" else f", {cls}")
        spec = {"v": P.PLOT_VERSION, "lines": [l.__dict__ | {"style": l.style.__dict__} for l in lines],
                "bayes": bayes, "title": title, "interval": PLOT_INTERVAL}
        plot_jobs[plot_path(proto, env, k, cls)] = (_hash_json(spec), lambda lines=lines, bayes=bayes, title=title:
                                               P.env_plot(lines, bayes, title, PLOT_INTERVAL))
    for r in state.rows:
        data = state.results[r["row_id"]]
        curves = [(f"seed {s}", c) for s, c in R.per_seed_curves(data)]
        mean = _line(r, styles[r["agent"]], "mean over seeds")
        bayes = R.floats(r["bayes_optimal"])
        title = f"{r['agent']} on {short_env(r['env_id'])} (protocol {r['protocol']}): per-seed success"
        spec = {"v": P.PLOT_VERSION, "curves": curves, "mean": mean.__dict__ | {"style": mean.style.__dict__},
                "bayes": bayes, "title": title}
        plot_jobs[row_plot_path(r["row_id"])] = (_hash_json(spec), lambda curves=curves, mean=mean, bayes=bayes, title=title:
                                                  P.seed_plot(curves, mean, bayes, title))

    files: dict[Path, bytes] = {}
    for rel, (digest, draw_fn) in plot_jobs.items():
        if draw and not (old.get("plots", {}).get(rel) == digest and (root / rel).is_file()):
            files[root / rel] = draw_fn()
    for src in sorted(STATIC.iterdir()):
        if src.suffix in (".js", ".css"):
            files[root / "assets" / src.name] = src.read_bytes()
    notes = load_notes()
    files[root / "index.html"] = index_html(state, grouped, notes).encode()
    files[root / "README.md"] = readme_md(grouped, notes).encode()
    for r in state.rows:
        files[root / "rows" / f"{r['row_id']}.html"] = detail_html(r, state.results[r["row_id"]], state.records.get(r["row_id"]),
                                                                   row_notes(r, notes)).encode()
    texts = {str(p.relative_to(root)): _sha(b) for p, b in files.items() if p.suffix != ".png"}
    manifest = {
        "inputs": inputs_of(state),
        "pages": dict(sorted(texts.items())),
        "plots": {rel: digest for rel, (digest, _) in sorted(plot_jobs.items())},
        "plot_version": P.PLOT_VERSION,
    }
    files[root / MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    keep = {root / rel for rel in plot_jobs} | set(files)
    stale = [p for d in GENERATED_DIRS if (root / d).is_dir() for p in sorted((root / d).rglob("*"))
             if p.is_file() and p not in keep and not p.name.startswith(".")]
    return files, stale


def inputs_of(state) -> dict[str, str]:
    """SHA-256 of every input file of the pages, as they are (or will be) stored."""
    out = {"results.csv": _sha(R.rows_to_csv(state.rows).encode())}
    for r in state.rows:
        out[f"submissions/{r['row_id']}.json"] = r["results_sha256"]
        if r["row_id"] in state.records:
            out[f"verifications/{r['row_id']}.json"] = _sha(record_bytes(state.records[r["row_id"]]))
    return dict(sorted(out.items()))


def _read_manifest(root: Path) -> dict:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


# -------------------------------------------------------------------------------------- HTML
HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{assets}assets/leaderboard.css">
</head><body>
"""

STATUS_WORDS = {
    R.SELF_REPORTED: "self-reported",
    "verified": "verified",
    "disagrees": "disagrees",
    "failed-verification": "failed verification",
}


def _badge(status: str, signed: dict | None = None) -> str:
    """The status badge; a verified, disagreeing or failed row's badge carries the record's outcome
    (with the re-run's score) as its tooltip, and a disagreeing row shows the re-run score too."""
    words = esc(STATUS_WORDS.get(status, status))
    if signed is None:
        return f'<span class="badge {esc(status)}">{words}</span>'
    rec = signed["record"]
    rerun = rec.get("rerun") or {}
    extra = f" (re-run {_cell(rerun['score'], *rerun['ci'])})" if status == "disagrees" and "score" in rerun else ""
    return f'<span class="badge {esc(status)}" title="{esc(rec.get("reason", ""))}">{words}{esc(extra)}</span>'


def _th(label: str, sort: str | None, first: str = "asc", cls: str = "") -> str:
    attrs = f' data-sort="{sort}" data-first="{first}" tabindex="0"' if sort else ""
    klass = f' class="{cls}"' if cls else ""
    return f"<th{klass}{attrs}>{esc(label)}</th>"


def _rank_cell(rank: int) -> str:
    if rank:
        return f'<td class="num" data-value="{rank}">{rank}</td>'
    return '<td class="num" data-value="9999" title="one training seed: no interval over training runs, not ranked">–</td>'


def split_labels(env: str) -> list[tuple[str, str]]:
    """(split, column label) per split of an env with held-out tasks (Desk-v2: "test tasks (16)"); none elsewhere."""
    entry = R.ENVS.get(env)
    if entry is None or not entry.has_split:
        return []
    return [(s, f"{s} tasks ({len(entry.tasks_of(s))})") for s in R.SPLITS]


def _split_text(r: dict[str, str], split: str) -> str:
    cell = R.split_cell(r, split)
    return "n/a" if cell is None else _cell(*cell)


def _cond(r: dict[str, str]) -> str:
    return "n/a" if not r["conditional"] else _cell(float(r["conditional"]), float(r["conditional_ci_low"]),
                                                     float(r["conditional_ci_high"]))


def _table(proto: str, env: str, k: int, ranked, labels: list[str], records: dict, marks: dict[str, str]) -> str:
    score_words = SCORE_WORDS[ranked[0][1]["score_name"]]
    head = [_th("rank", "num", "asc"), _th("agent", "text"), _th("version", "text", cls="wide"),
            _th(f"{score_words} [95% CI]", "num", "desc", cls="score"),
            _th("success after a failure [95% CI]", "num", "desc", cls="wide"), _th("seeds at optimum", "num", "desc")]
    splits = split_labels(env)
    head += [_th(f"{score_words}, {label} [95% CI]", "num", "desc", cls="split") for _, label in splits]
    head += [_th(f"ep {e}", "num", "desc", cls="ep") for e in range(1, k + 1)]
    head += [_th("family", "text"), _th("method", "text"), _th("data", "text", cls="wide"), _th("seeds × trials", "num", "desc"),
             _th("distinct rollouts", "num", "desc", cls="wide"), _th("status", "text"), _th("", None)]
    body = []
    for (rank, r), label in zip(ranked, labels):
        rates, los, his = R.floats(r["success_rate"]), R.floats(r["ci_low"]), R.floats(r["ci_high"])
        score, lo, hi = float(r["score"]), float(r["score_ci_low"]), float(r["score_ci_high"])
        mark = marks.get(r["row_id"], "")
        cond = float(r["conditional"]) if r["conditional"] else -1.0
        cells = [
            _rank_cell(rank),
            f'<td class="agent">{esc(label)}{f"<sup>{esc(mark)}</sup>" if mark else ""}</td>',
            f'<td class="ver wide" title="{esc(r["agent_version"])}">{esc(r["agent_version"][:8])}</td>',
            f'<td class="num score" data-value="{score!r}">{_cell(score, lo, hi)}</td>',
            f'<td class="num wide" data-value="{cond!r}">{_cond(r)}</td>',
            f'<td class="num" data-value="{int(r["seeds_at_bayes_optimal"]) / int(r["n_seeds"])!r}">'
            f'{r["seeds_at_bayes_optimal"]}/{r["n_seeds"]}</td>',
        ]
        cells += [f'<td class="num split" data-value="{(R.split_cell(r, s) or (-9.0,))[0]!r}">{esc(_split_text(r, s))}</td>'
                  for s, _ in splits]
        cells += [f'<td class="num" data-value="{a!r}" title="95% CI [{b:.2f}, {c:.2f}]">{a:.2f}</td>'
                  for a, b, c in zip(rates, los, his)]
        total = int(r["n_seeds"]) * int(r["trials_per_seed"])
        rollouts = r["distinct_rollouts"]
        cells += [
            f'<td>{esc(r["family"])}</td>',
            f'<td class="method">{esc(r["method"])}</td>',
            f'<td class="wide data" title="{esc(r["data"])}">{"/<wbr>".join(esc(part) for part in r["data"].split("/"))}</td>',
            f'<td class="num" data-value="{total}">{r["n_seeds"]} × {r["trials_per_seed"]}</td>',
            f'<td class="num wide" data-value="{esc(rollouts or "-1")}" title="distinct action sequences among the '
            f'row\'s {total} trials">{esc(f"{rollouts}/{total}" if rollouts else "n/a")}</td>',
            f'<td data-value="{esc(r["verification"])}">{_badge(r["verification"], records.get(r["row_id"]))}</td>',
            f'<td><a class="detail" href="rows/{esc(r["row_id"])}.html">details</a></td>',
        ]
        attrs = (f'data-row="{esc(r["row_id"])}" data-env-version="{esc(r["env_version"])}" '
                 f'data-family="{esc(r["family"])}" data-method="{esc(r["method"])}" data-verification="{esc(r["verification"])}"')
        body.append(f"<tr {attrs}>" + "".join(cells) + "</tr>")
    bayes = R.floats(ranked[0][1]["bayes_optimal"])
    from benchmark.stats import conditional_bayes_optimal

    best = conditional_bayes_optimal(k, len(bayes) and round(1 / bayes[0]))
    foot = ('<tr class="ref"><td></td><td>Bayes-optimal</td><td class="wide"></td><td class="num score">1.00</td>'
            f'<td class="num wide">{"n/a" if best is None else f"{best:.2f}"}</td><td></td>'
            + '<td class="num split">1.00</td>' * len(splits)
            + "".join(f'<td class="num">{b:.2f}</td>' for b in bayes)
            + '<td></td><td></td><td class="wide"></td><td></td><td class="wide"></td><td></td><td></td></tr>')
    empty = f'<tr class="empty" hidden><td colspan="{len(head)}">No row matches the filters.</td></tr>'
    return (f'<table class="board" data-env="{esc(env)}" data-protocol="{proto}"><thead><tr>{"".join(head)}</tr></thead>'
            f"<tbody>{''.join(body)}{empty}</tbody><tfoot>{foot}</tfoot></table>")


def _filters(rows: Sequence[dict[str, str]]) -> str:
    versions = sorted({r["env_version"] for r in rows})
    opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in versions)
    fams = "".join(f'<option value="{f}">{f}</option>' for f in R.FAMILIES if f != "oracle")
    methods = "".join(f'<option value="{esc(m)}">{esc(m)}</option>' for m in R.METHOD_FAMILIES)
    return ('<form id="filters" class="filters" onsubmit="return false">'
            f'<label>env version <select id="f-env-version"><option value="">all</option>{opts}</select></label>'
            f'<label>family <select id="f-family"><option value="">all</option>{fams}</select></label>'
            f'<label>method <select id="f-method"><option value="">all</option>{methods}</select></label>'
            '<label><input type="checkbox" id="f-verified"> verified only</label>'
            '<span id="f-count" aria-live="polite"></span></form>')


RANK_WORDS = ("Rows are ranked by their score's 95% interval over training seeds (Student-t): <b>rank = 1 + the "
              "number of rows whose lower bound exceeds this row's upper bound</b>. Rows that cannot be told apart "
              "share a rank, and the next rank jumps past them (two rows at 1, the next at 3); a row can also be "
              "below one row and tied with its neighbours. With 3-10 seeds the intervals are wide, so ties are "
              "common. A row of one training seed has no interval over training runs: it is listed (rank –), never "
              "ranked. Agents handed the handles' positions (<code>uses_layout</code>) are ranked apart, in their "
              "own table, never beside agents that see pixels only.")
PLAUSIBILITY_WORDS = ("No agent beats Bayes-optimal in expectation, but a score is an estimate from finitely many "
                      "trials: an agent at the optimum scores above 1 about as often as below it (the tasks are "
                      "balanced, the episode-1 success is not: opening the right drawer first by luck more often "
                      "than 1/N lifts the area). A point estimate above 1 whose interval reaches below 1 is such "
                      "luck; a results file whose whole interval lies above 1 is refused for a maintainer's review.")
FAMILY_WORDS = ("<b>Family</b>: what the agent learnt from (scripted: nothing; offline: a dataset; online: its own "
                "env steps). <b>Method</b>: its method family, from its name (<code>leaderboard.rows.method_family</code>): "
                + ", ".join(R.METHOD_FAMILIES) + "; RefExp is the paper's method with its ablations and variants, "
                "offline RL a policy without task inference.")
COND_WORDS = ("<b>Success after a failure</b>: over every trial's episodes k < K that failed, the share whose next "
              "episode succeeded (the mean over training seeds). Near 0 with an episode-1 success near 1/N: the agent "
              "can open a drawer but does not explore; near 0 with episode-1 success near 0: it cannot open one.")


def _marks(ranked, notes: dict) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Footnote marks of the rows with notes ({row id: mark}) and the notes in order [(mark, text)]."""
    marks, texts = {}, []
    for _, r in ranked:
        for text in row_notes(r, notes):
            if text not in [t for _, t in texts]:
                texts.append((str(len(texts) + 1), text))
            mark = next(m for m, t in texts if t == text)
            marks[r["row_id"]] = ",".join(filter(None, [marks.get(r["row_id"], ""), mark]))
    return marks, texts


def index_html(state, grouped, notes: dict | None = None) -> str:
    notes = notes if notes is not None else {"envs": {}, "rows": []}
    parts = [HEAD.format(title="RefExp leaderboard", assets=""), "<header><h1>RefExp leaderboard</h1>",
             "<p>How quickly an agent finds the hidden drawer (on a desk, the paying mechanism): success rate in each "
             "exploration episode of a trial (K episodes of one hidden task), beside the Bayes-optimal curve min(1, k/N), "
             "N the drawers or mechanisms to choose from. " + RANK_WORDS
             + " Click a column to sort; <i>details</i> shows the per-seed curves, the results file and the command "
             "that reproduces a row.</p>",
             f"<p>{COND_WORDS} {PLAUSIBILITY_WORDS}</p>", f"<p>{FAMILY_WORDS}</p>",
             _filters(state.rows), "</header><main>"]
    v1 = [g for g in grouped if g[0] == "v1"]
    v0 = [g for g in grouped if g[0] == "v0"]
    parts.append('<section class="protocol" id="protocol-v1"><h2>Protocol v1</h2>'
                 "<p>Tasks ordered by the maintainers' evaluation secret, every task scored equally often per "
                 "training seed. Score: the <b>exploration score</b>, 0 = the best agent that never adapts "
                 "(area K/N), 1 = Bayes-optimal; intervals over training seeds. <i>Verified</i>: the maintainers "
                 "re-ran the agent with the secret and fresh seeds, and the intervals overlap (signed record).</p>")
    if not v1:
        parts.append("<p class=\"none\"><em>No protocol-v1 rows yet.</em></p>")
    parts += [_env_section(g, state.records, notes) for g in v1]
    parts.append("</section>")
    if v0:
        parts.append('<section class="protocol" id="protocol-v0"><h2>Protocol v0 (earlier results)</h2>'
                     "<p>Scored by the first harness (results schema 1): the tasks came from public seeds (an agent "
                     "could have inferred them) and were not balanced per seed. The files are kept as submitted; the "
                     "numbers here are re-derived from their raw successes and tasks with the current statistics "
                     "(per-seed task-balanced rates, intervals over seeds, the exploration score); the detail page "
                     "also shows the normalised score as submitted. Ranked only among themselves, never against "
                     "protocol v1; they cannot be verified.</p>")
        parts += [_env_section(g, state.records, notes) for g in v0]
        parts.append("</section>")
    parts.append(_how_to_submit_html())
    parts.append('</main><script src="assets/leaderboard.js"></script></body></html>\n')
    return "\n".join(parts)


def _env_section(group, records: dict, notes: dict) -> str:
    proto, env, k, cls, ranked = group
    anchor = f"{proto}-{slug(short_env(env))}-k{k}" + ("" if cls == "pixels" else f"-{cls}")
    marks, texts = _marks(ranked, notes)
    heading = f"{esc(env)}, K = {k}" + (f" — {esc(CLASS_WORDS[cls])}" if cls != "pixels" else "")
    env_note = notes["envs"].get(env) if proto == "v1" else None
    notes_html = ""
    if env_note or texts:
        items = ([f"<li>{esc(env_note)}</li>"] if env_note else []) + [f"<li><sup>{m}</sup> {esc(t)}</li>" for m, t in texts]
        notes_html = f'<ul class="notes">{"".join(items)}</ul>'
    return (f'<section class="env" id="{anchor}"><h3>{heading}</h3>'
            f'<div class="tablewrap">{_table(proto, env, k, ranked, _labels(ranked), records, marks)}</div>{notes_html}'
            f'<figure><img src="{esc(plot_path(proto, env, k, cls))}" alt="{esc(env)}: success per episode, protocol {proto}" '
            f'width="640" loading="lazy"><figcaption>{esc(_interval_words(proto))}; error bars are 95% intervals; '
            "curves are offset sideways a little so that equal curves stay visible.</figcaption></figure></section>")


def _how_to_submit_html() -> str:
    return ('<section id="submit"><h2>How a result reaches this board</h2><ol>'
            "<li>Score the agent with the harness: <code>python -m benchmark.run --agent YOURS ...</code> "
            "(a built-in name, <code>package.module:Class</code>, a checkpoint <code>.pt</code> or a "
            "Stable-Baselines3 <code>.zip</code>).</li>"
            "<li><code>python -m leaderboard submit results/FILE.json</code> validates it and adds its row; open a "
            "pull request with the changed <code>leaderboard/</code> files (and the agent's code and weights, or "
            "where to get them, with their SHA-256). CI runs <code>python -m leaderboard check</code>.</li>"
            "<li>A maintainer runs <code>python -m leaderboard verify</code>, which re-runs the agent with the "
            "secret evaluation key and fresh seeds in a sandboxed process and signs the outcome.</li></ol>"
            "<p>One row per agent version and env: a resubmission of the same version is refused, or replaces "
            f"the old row with <code>--replace</code>. At least {MIN_TRIALS} trials per row; pixel observations; "
            "agents that see the hidden task are never ranked. Threat model: <code>docs/benchmark.md</code>.</p></section>")


def detail_html(r: dict[str, str], data: dict, signed: dict | None, notes: Sequence[str] = ()) -> str:
    cmd = shlex.join(R.reproduce_command(data))
    score = _cell(float(r["score"]), float(r["score_ci_low"]), float(r["score_ci_high"]))
    facts = [
        ("agent", r["agent"]), ("version", r["agent_version"]), ("agent spec", r["agent_spec"]),
        ("env", r["env_id"]), ("episodes K", r["episodes"]), ("protocol", f"{r['protocol']} (results schema {r['schema_version']})"),
        (SCORE_WORDS[r["score_name"]], score), ("rank", "not ranked: one training seed" if not R.ranked(r) else
                                                 "see the leaderboard"),
        ("success after a failure", _cond(r)),
        *((f"{SCORE_WORDS[r['score_name']]}, {label}", _split_text(r, split)) for split, label in split_labels(r["env_id"])),
        ("privileged channel", CLASS_WORDS["privileged"] if r["privileged"] else "none (pixels and proprioception only)"),
        ("seeds at the Bayes-optimal curve", f"{r['seeds_at_bayes_optimal']} of {r['n_seeds']}"),
        ("family", r["family"]), ("method family", r["method"]), ("trained on", r["data"]),
        ("training seeds" if r["protocol"] == "v1" else "seeds", r["seeds"]), ("trials per seed", r["trials_per_seed"]),
        ("distinct rollouts", f"{r['distinct_rollouts']} of {int(r['n_seeds']) * int(r['trials_per_seed'])} trials"
         if r["distinct_rollouts"] else "not recorded (schema 1)"),
        ("observations", r["obs_type"]), ("machine", r["machine"]), ("wall time", f"{float(r['wall_time_s']):.0f} s"),
        ("date", r["date"]), ("results SHA-256", r["results_sha256"]),
    ]
    if r["protocol"] == "v0":
        facts.append(("as submitted (first harness)", "normalised score " + _cell(
            data["normalised_score"], *data["normalised_score_ci"]) + "; per-episode rates with Wilson intervals over pooled trials: "
            + ", ".join(_cell(a, b, c) for a, b, c in zip(data["success_rate"], data["ci_low"], data["ci_high"]))))
    k = int(r["episodes"])
    rates, los, his = R.floats(r["success_rate"]), R.floats(r["ci_low"]), R.floats(r["ci_high"])
    curve = "".join(f"<tr><td>{e + 1}</td><td class=\"num\">{_cell(a, b, c)}</td><td class=\"num\">{bo:.2f}</td></tr>"
                    for e, a, b, c, bo in zip(range(k), rates, los, his, R.floats(r["bayes_optimal"])))
    parts = [HEAD.format(title=f"{esc(r['agent'])} on {esc(r['env_id'])}: RefExp leaderboard", assets="../"),
             '<p><a href="../index.html">&larr; the leaderboard</a></p>',
             f"<h1>{esc(r['agent'])} on {esc(r['env_id'])}, K = {k}</h1>",
             f"<p>{_badge(r['verification'], signed)}</p>", _verification_html(r, signed),
             "".join(f'<p class="note">Note: {esc(t)}</p>' for t in notes),
             '<table class="facts"><tbody>' + "".join(f"<tr><th>{esc(a)}</th><td>{esc(str(b))}</td></tr>" for a, b in facts)
             + "</tbody></table>",
             f"<h2>Success per episode</h2><p>{esc(_interval_words(r['protocol']))}.</p>",
             f'<table class="curve"><thead><tr><th>episode</th><th>success [95% CI]</th><th>Bayes-optimal</th></tr></thead><tbody>{curve}</tbody></table>',
             f'<figure><img id="seed-plot" src="../{esc(row_plot_path(r["row_id"]))}" alt="per-seed success curves of {esc(r["agent"])}" width="600">'
             "<figcaption>One thin line per seed (offset sideways a little), the row's curve with its 95% interval, "
             "and the Bayes-optimal curve (dashed).</figcaption></figure>",
             f'<h2>Evidence</h2><p>The results file: <a id="results-json" href="../submissions/{esc(r["row_id"])}.json">'
             f"submissions/{esc(r['row_id'])}.json</a> (raw successes of every trial).</p>",
             f'<p>Reproduce (from a clone of the repository{_secret_words(r)}):</p><pre><code id="reproduce">{esc(cmd)}</code></pre>',
             "</body></html>\n"]
    return "\n".join(parts)


def _secret_words(r: dict[str, str]) -> str:
    if r["protocol"] == "v0":
        return (f", with the first harness (results schema 1): <code>git checkout {R.V0_HARNESS_COMMIT}</code>, the last "
                "commit before the evaluation protocol; today's harness has other flags and seeding")
    return ", with the public evaluation secret, the default: the submitter's run; a verification re-run uses the maintainers' secret"


def _verification_html(r: dict[str, str], signed: dict | None) -> str:
    if signed is None:
        words = ("Not verified: the numbers are the submitter's own run." if r["protocol"] == "v1"
                 else "Protocol v0 rows cannot be verified (no evaluation secret); the numbers are the submitter's own run.")
        return f"<p>{words}</p>"
    rec = signed["record"]
    rows = [("outcome", rec.get("reason", "")), ("verified on", rec.get("date", "")),
            ("signing key", rec.get("key_id", ""))]
    sub, rerun = rec.get("submitted"), rec.get("rerun")
    if sub:
        rows.append(("submitted score", _cell(sub["score"], *sub["ci"])))
    if rerun:
        rows.append(("re-run score", _cell(rerun["score"], *rerun["ci"])))
        rows.append(("re-run evaluation seed", str(rerun.get("eval_seed", ""))))
    rows.append(("secret id of the re-run", rec.get("secret_id", "")))
    return ('<table class="facts verification"><tbody>'
            + "".join(f"<tr><th>{esc(a)}</th><td>{esc(str(b))}</td></tr>" for a, b in rows) + "</tbody></table>")


# ---------------------------------------------------------------------------------- markdown
def readme_md(grouped, notes: dict | None = None) -> str:
    notes = notes if notes is not None else {"envs": {}, "rows": []}
    strip = lambda text: re.sub(r"</?(b|i|code)>", lambda m: "`" if "code" in m.group(0) else ("**" if "b" in m.group(0) else "*"), text)  # noqa: E731
    lines = [
        "# RefExp leaderboard",
        "",
        "Generated by `python -m leaderboard render` from `results.csv`, `submissions/` and `verifications/`: "
        "do not edit by hand (`python -m leaderboard check` fails on any edit). The web page is `index.html` "
        "(sortable, filterable, a detail page per row). Score: the exploration score (0 = the best agent that "
        "never adapts, 1 = Bayes-optimal) with its 95% interval over training seeds. " + strip(RANK_WORDS)
        + " Protocol v1 rows and protocol v0 rows (earlier results of the first harness, re-derived from "
        "their raw data) are never ranked against each other. Protocol: `docs/benchmark.md`.",
        "",
        strip(COND_WORDS) + " " + PLAUSIBILITY_WORDS,
        "",
        strip(FAMILY_WORDS),
        "",
        "Submit: `python -m leaderboard submit results/FILE.json`, then a pull request with the changed "
        "files; a maintainer verifies with `python -m leaderboard verify`.",
        "",
    ]
    if not grouped:
        lines += ["*No submissions yet.*", ""]
    for proto, env, k, cls, ranked in grouped:
        labels = _labels(ranked)
        marks, texts = _marks(ranked, notes)
        head = ["rank", "agent", f"{SCORE_WORDS[ranked[0][1]['score_name']]} [95% CI]", "after a failure [95% CI]",
                "seeds at Bayes-opt."]
        splits = split_labels(env)
        head += [label for _, label in splits]
        head += [f"ep {e}" for e in range(1, k + 1)] + ["family", "method", "seeds × trials", "status"]
        title = f"## {env}, K = {k} (protocol {proto})" + ("" if cls == "pixels" else f": {CLASS_WORDS[cls]}")
        lines += [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for (rank, r), label in zip(ranked, labels):
            mark = marks.get(r["row_id"])
            cells = [str(rank) if rank else "–", md_cell(label) + (f" ({mark})" if mark else ""),
                     _cell(float(r["score"]), float(r["score_ci_low"]), float(r["score_ci_high"])), _cond(r),
                     f"{r['seeds_at_bayes_optimal']} of {r['n_seeds']}"]
            cells += [_split_text(r, split) for split, _ in splits]
            cells += [f"{x:.2f}" for x in R.floats(r["success_rate"])]
            cells += [md_cell(r["family"]), md_cell(r["method"]), f"{r['n_seeds']} × {r['trials_per_seed']}", md_cell(r["verification"])]
            lines.append("| " + " | ".join(cells) + " |")
        bayes = R.floats(ranked[0][1]["bayes_optimal"])
        lines.append("|  | *Bayes-optimal* | 1.00 |  |  | " + "1.00 | " * len(splits) + " | ".join(f"{b:.2f}" for b in bayes) + " |  |  |  |  |")
        env_note = notes["envs"].get(env) if proto == "v1" else None
        lines += [""] + ([f"*{env_note}*", ""] if env_note else []) + [f"({m}) {t}" for m, t in texts]
        lines += ([""] if texts else []) + [f"![{env} K={k}]({plot_path(proto, env, k, cls)})", ""]
    return "\n".join(lines)
