"""``tuner report``: one self-contained HTML page about one or more studies.

The page opens without a network: plotly.js is inlined once in the head, galleries are
``data:`` URIs, and there is no external script or link tag. Per study it says what was
searched and what was fixed, shows the comparison table (and the pivot of two-parameter
studies), the plots, the galleries of the best and the worst configuration, the best
configuration in words (first saying so when only part of the study ran), which
configurations a paired test cannot tell from the best, and which differences between
configurations are smaller than the spread between repeats (so the reader does not
over-read noise). Datasets are named as shared: no absolute path.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import optuna
import pandas as pd
import plotly.offline

from tuner import records
from tuner.errors import TunerError
from tuner.inference import gallery
from tuner.reports import cost, display, export, tables
from tuner.reports.analysis import (
    BEST_VALUE,
    Analysis,
    Coverage,
    Declared,
    analyse,
    declared_space,
    ran_values,
)
from tuner.reports.campaign_report import expand_campaigns
from tuner.results import paired
from tuner.results.caveats import study_caveats
from tuner.results.formatting import difference, mean_sd, number, p_value, param, shared_text
from tuner.results.formatting import label as text_label
from tuner.results.winner import Ranking, tie_margin
from tuner.storage import storage_url as resolve_url

REPORT_CURVES = ("loss", "dice")  # learning curves on the page; the export draws them all
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.best { font-weight: bold; background: #e6f5e6; }
td.tie { font-style: italic; background: #f3faf3; } tbody th { text-align: left; }
.note { color: #666; font-style: italic; } img { margin: 0.5em; vertical-align: top; }
"""


OUT_WHAT = "report file"  # how errors name the page's file


def default_report_path(url: str | None, study_names: list[str]) -> Path:
    """``exports/<study>/report.html``; several studies: ``exports/report_<a>+<b>.html``
    (each study by its :func:`~tuner.reports.export.folder_name`; a name longer than
    :data:`~tuner.reports.export.NAME_LIMIT` is cut and ends in a hash of the names)."""
    if len(study_names) == 1:
        return export.default_out(url, study_names[0]) / "report.html"
    folder = export.default_out(url, study_names[0]).parent
    stem = "report_" + "+".join(export.folder_name(n) for n in study_names)
    limit = export.NAME_LIMIT - len(".html")
    if len(stem) > limit:
        cut = stem[:limit - export.HASH_LENGTH - 1].rstrip("._-+")
        stem = f"{cut}-{export.name_hash(json.dumps(list(study_names)))}"
    return folder / f"{stem}.html"


def write_report(storage_url: str | None, study_names: list[str], out: Path,
                 metric: str = "val_dice", target: float | None = None) -> Path:
    """Write the page about ``study_names`` to ``out`` (replaced whole, never half-written);
    ``metric`` and ``target`` as in :func:`study_section`. The studies and ``out`` are
    checked before any work; a mistake writes nothing."""
    if not study_names:
        raise TunerError("tuner report: no study named; give one or more study names")
    studies, lineages = expand_campaigns(storage_url, study_names)  # a campaign: its stages
    loaded = [export.finished_study(storage_url, name) for name in studies]
    out = Path(out)
    export.check_output(out, OUT_WHAT, folder=False)
    sections = [*lineages, *(_section(storage_url, study, metric, target)
                             for study in loaded)]
    title = "tuner report: " + ", ".join(study_names)
    page = "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>", f"<h1>{html.escape(title)}</h1>", *sections, "</body></html>",
    ])  # fmt: skip
    with export.replacing(out, OUT_WHAT) as partial:
        partial.write_text(page, encoding="utf-8")
    return out


def study_section(url: str | None, study_name: str, metric: str = "val_dice",
                  target: float | None = None) -> str:
    """The HTML section about one study (TunerError if it is unknown or has no results);
    ``metric`` fills the pivot, ``target`` is the Dice of the cost table."""
    return _section(url, export.finished_study(url, study_name), metric, target)


def _section(url: str | None, study: optuna.Study, metric: str,
             target: float | None) -> str:
    found = analyse(study, metric, target)
    study, trials, params, comparison = found.study, found.trials, found.params, found.comparison
    study_name = study.study_name
    parts = [f'<section id="{html.escape(export.folder_name(study_name))}">',
             f"<h2>Study {html.escape(study_name)}</h2>"]
    question = study.user_attrs.get(records.QUESTION)
    if question:
        parts.append(f"<p><b>Question:</b> {html.escape(str(question))}</p>")
    counts = trials["state"].str.lower().value_counts()
    parts.append("<p>" + ", ".join(f"{n} {s}" for s, n in counts.items()) + " trials.</p>")
    parts.append(_searched_and_fixed(study))
    parts.append("<h3>Conclusion</h3><ul>" + "".join(
        f"<li>{html.escape(s)}</li>"
        for s in [best_in_words(found.ranking, comparison, found.coverage),
                  *paired_sentences(found.ranking), *noise_sentences(found.ranking),
                  *(f"Caution: {c}." for c in study_caveats(study))]
    ) + "</ul>")
    parts.append("<h3>Comparison</h3>" + comparison_html(comparison, params))
    if len(params) == 2:
        title = tables.metric(metric).title
        parts.append(f"<h3>Pivot: {html.escape(title)}</h3>"
                     + display.html(display.pivot_shown(comparison, params, metric)))
    if found.best_values is not None:
        per = " x ".join(p for p in params if p != BEST_VALUE)
        shown = display.best_value_shown(found.best_values, params, BEST_VALUE)
        parts.append(f"<h3>Best {BEST_VALUE} per {html.escape(per)}</h3>" + display.html(shown))
    if found.cost is not None:
        parts.append("<h3>Cost</h3>"
                     + display.html(cost.cost_shown(found.cost, params, found.target)))
    parts.append(_plots_html(found))
    parts.append(_galleries_html(study, url, trials, comparison, params))
    parts.append("</section>")
    return "\n".join(parts)


def label(config: pd.Series, params: list[str]) -> str:
    """``"weight_decay=0.01, train_fraction=0.8"`` (``"all trials"`` without parameters)."""
    return text_label({p: config[p] for p in params})


def best_in_words(ranking: Ranking | None, comparison: pd.DataFrame,
                  coverage: Coverage | None = None) -> str:
    """The winning configuration (the one rule of :mod:`tuner.results.winner`) and its
    score as a sentence; of a partly-run study (``coverage``), first how much of it ran."""
    partly = coverage is not None and coverage.partial
    if ranking is None:
        return (f"Partly run: {coverage.sentence()}." if partly else
                "No configuration completed: every trial was pruned.")
    winner = ranking.winner
    if winner.n >= 2:
        score = f"{mean_sd(winner.mean, winner.sd)} (mean ± sd over {winner.n} repeats)"
    else:
        score = f"{number(winner.mean)} (one run)"
    rows = comparison[comparison.get(f"{tables.WINNER_COLUMN}_mark", "") == "best"]
    epoch = (f", reached at epoch {rows['best_epoch_mean'].iloc[0]:.0f} on average"
             if len(rows) and not pd.isna(rows["best_epoch_mean"].iloc[0]) else "")
    start = (f"Partly run: {coverage.sentence()}; the best of those is" if partly else
             "Best configuration:")
    return f"{start} {text_label(winner.values)}, with best validation Dice {score}{epoch}."


PAIRED_LISTED = 8  # configurations named per sentence; more are counted


def paired_sentences(ranking: Ranking | None) -> list[str]:
    """Which configurations the paired test (:mod:`tuner.results.paired`) cannot tell
    from the best mean, which it can, and which have too few pairs for it; then which
    procedure gave the intervals and p-values, and why."""
    if ranking is None or len(ranking.configurations) < 2:
        return []
    found = [(c, paired.compare(c, ranking.best)) for c in ranking.configurations[1:]]
    tested = [(c, p) for c, p in found if p.p is not None]
    if not tested:
        return [f"No paired test against the best: no configuration has {paired.MIN_PAIRS} "
                "or more runs paired with the best's by repeat index (the same seed and "
                "images), so no difference has a p-value."]
    same = [(c, p) for c, p in tested if not p.distinguishable]
    test = paired.tests_text(p.method for _, p in tested)
    out = [f"{test[0].upper()}{test[1:]} against the best mean "
           f"({text_label(ranking.best.values)}), over "
           f"{paired.pairs_text([p.pairs for _, p in tested])}: "
           + (f"not distinguishable from it (p >= {paired.ALPHA}): {_listed(same)}." if same
              else "every other configuration is distinguishable from it (p < "
                   f"{paired.ALPHA}); the closest: {_listed(tested[:1])}."),
           paired.method_sentence(p.method for _, p in tested)]
    untested = [(c, p) for c, p in found if p.p is None]
    if untested:
        out.append(f"Too few pairs for the test: {_listed(untested, with_p=False)}.")
    winner = dict((id(c), p) for c, p in found).get(id(ranking.winner))
    if winner is not None and winner.distinguishable:
        out.append(f"The winner is a cheaper configuration that the paired test tells from "
                   f"the best mean ({_one(ranking.winner, winner)}): choosing it gives up that "
                   "much validation Dice for less training work.")
    return out


def _one(configuration, found: paired.Paired, with_p: bool = True) -> str:
    """``label (Δ -0.005 [-0.014, +0.005] by t, p 0.218)``: the difference, its interval
    with the procedure that gave it, and p (or why there is none)."""
    delta = "Δ " + difference(found.difference, found.low, found.high)
    by = f" by {found.method}" if found.method else ""
    p = (", p " + p_value(found.p).replace("<", "< ") if with_p
         else f", {found.why_untested()}")
    return f"{text_label(configuration.values)} ({delta}{by}{p})"


def _listed(found: list, with_p: bool = True) -> str:
    shown = "; ".join(_one(c, p, with_p) for c, p in found[:PAIRED_LISTED])
    more = len(found) - PAIRED_LISTED
    return shown + (f"; and {more} more (the comparison table lists them)" if more > 0 else "")


def noise_sentences(ranking: Ranking | None) -> list[str]:
    """Which configurations the repeat noise cannot tell from the best, and why the winner
    won, by the one rule of :mod:`tuner.results.winner`."""
    if ranking is None or len(ranking.configurations) < 2:
        return ["Only one configuration completed, so there is nothing to compare."]
    if ranking.noise is None:
        return ["Each configuration ran once, so the repeat noise is unknown and any "
                "difference may be chance; run the study with repeats >= 2 to know."]
    best, noise = ranking.best, ranking.noise
    out = [f"Repeat noise of best validation Dice (the median over configurations of their "
           f"sd between repeats): {noise:.3f}."]
    if ranking.ties:
        listed = "; ".join(f"{text_label(c.values)} (-{best.mean - c.mean:.3f})"
                           for c in ranking.ties)
        out.append(f"Within the repeat noise of the best mean (the winner rule's ties): "
                   f"{listed}.")
    else:
        runner_up = ranking.configurations[1]
        out.append(f"The best mean is ahead of the runner-up ({text_label(runner_up.values)})"
                   f" by {best.mean - runner_up.mean:.3f}, more than the noise allows "
                   f"({tie_margin(noise, best, runner_up):.3f}).")
    if ranking.winner is not best:
        out.append(f"Winner: {shared_text(ranking.rule)}.")
    return out


def comparison_html(comparison: pd.DataFrame, params: list[str]) -> str:
    """The comparison as an HTML table: ``mean ± sd (n)`` cells, the best bold, ties
    italic, and the legend."""
    return display.html(display.comparison_shown(comparison, params))


def _searched_and_fixed(study: optuna.Study) -> str:
    """Searched: the space the study file declared (every grid value; ranges with their
    bounds and log flag, from the setup stored at creation) beside what finished, then the
    config fields that vary with it. Fixed: the study file's ``base`` (a study attribute the
    runner stores) or, without it, the fields equal in every trial that differ from the
    defaults."""
    varied, fixed = tables.config_summary(study)
    declared = declared_space(study)
    columns = tables.param_columns(study)
    named = set(declared or ()) | {columns.get(n, n) for n in declared or ()}
    items = [_declared_item(study, d) for d in (declared or {}).values()]
    searched = set(columns) | set(columns.values())  # lr_adam is searched, and so is lr
    for name, values in varied.items():
        if name in named:
            continue
        why = " (what ran)" if name in searched else (
            " (changes with the repeat)" if name == "seed" else " (follows from the search)")
        shown = ", ".join(param(v, name) for v in values)
        items.append(f"<li><b>{html.escape(name)}</b>: {html.escape(shown)}{why}</li>")
    listed = f"<ul>{''.join(items)}</ul>" if items else "<p>nothing (repeats only)</p>"
    base = study.user_attrs.get(records.BASE)
    pinned = base if isinstance(base, dict) and base else {
        k: v for k, v in fixed.items() if k not in named}
    text = text_label(pinned) if pinned else "nothing"
    return ("<h3>Searched</h3>" + _space_note(declared) + listed
            + f"<h3>Fixed</h3><p>{html.escape(text)}; every other field at its default "
            "(<code>tuner fields</code> lists them).</p>")


def _space_note(declared: dict | None) -> str:
    """Where the Searched list comes from: the declared space, or why only what ran."""
    if declared:
        return ('<p class="note">Declared: the space of the study file, as stored when the '
                "study was created; ran: the values of its finished (completed or pruned) "
                "trials.</p>")
    if declared == {}:
        return ('<p class="note">The study file declares its space as a function (a '
                "conditional space; its source is stored with the study), so no list of "
                "values is declared: the values its trials ran with.</p>")
    return ('<p class="note">No declared space is stored (a study not created by '
            "<code>tuner run</code>): the values its trials ran with.</p>")


def _declared_item(study: optuna.Study, declared: Declared) -> str:
    """``name: declared ...; ran: ...`` for one parameter, naming declared values not run."""
    ran = ran_values(study, declared.name)
    name = declared.name
    if declared.choices is not None:
        missing = [v for v in declared.choices if v not in ran]
        done = [v for v in declared.choices if v in ran]
        ran_text = ("none yet" if not done else f"all {len(done)}" if not missing else
                    ", ".join(param(v, name) for v in done)
                    + "; not run: " + ", ".join(param(v, name) for v in missing))
    elif not ran:
        ran_text = "none yet"
    else:
        numbers = sorted(ran)
        ran_text = (f"{len(numbers)} value{'s' * (len(numbers) > 1)}"
                    + (f", {param(numbers[0], name)} to {param(numbers[-1], name)}"
                       if len(numbers) > 1 else f": {param(numbers[0], name)}"))
    return (f"<li><b>{html.escape(name)}</b>: declared {html.escape(declared.text())}; "
            f"ran: {html.escape(ran_text)}</li>")


def _plots_html(found: Analysis) -> str:
    from tuner.reports import plots  # plotly.express is slow to import; only when plotting

    figures, notes = plots.study_figures(found.study, found.trials, found.comparison,
                                         found.curves, found.params, REPORT_CURVES)
    parts = ["<h3>Plots</h3>"]
    parts += [fig.to_html(full_html=False, include_plotlyjs=False) for fig in figures.values()]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    if any(name.startswith("learning_curves_") for name in figures):
        parts.append('<p class="note">Learning curves of IoU, precision, recall and accuracy: '
                     "<code>tuner export</code> draws them too.</p>")
    return "\n".join(parts)


def _galleries_html(study, url, trials, comparison, params) -> str:
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    parts, shown = ["<h3>Predictions</h3>"], set()
    for title, worst in (("Best configuration", False), ("Worst configuration", True)):
        numbers = export.representative_trials(trials, comparison, params, top=1, worst=worst)
        if not numbers or numbers[0] in shown:
            continue
        shown.add(numbers[0])
        found = gallery.find_galleries(study, by_number[numbers[0]], resolve_url(url))
        if not found:
            parts.append(f'<p class="note">{title}: trial #{numbers[0]} has no gallery.</p>')
            continue
        trial = trials.set_index("number").loc[numbers[0]]
        parts.append(f"<h4>{title}: trial #{numbers[0]} ({html.escape(label(trial, params))}, "
                     f"best validation Dice {trial['best_val_dice']:.3f})</h4><div>")
        parts += [f'<figure style="display:inline-block"><img alt="epoch {epoch}" '
                  f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                  f"<figcaption>epoch {epoch}</figcaption></figure>" for epoch, png in found]
        parts.append("</div>")
    return "\n".join(parts)
