"""One winner rule, robust: the best mean over repeats, a noise estimate that one diverged
repeat cannot inflate, ties to the configuration with less training work (never to the
one that happened to run on an idle CPU), and every reader naming the same winner."""

from __future__ import annotations

import optuna
import pytest

from tuner import records
from tuner.errors import TunerError
from tuner.results.runs import choose_winner, configurations
from tuner.results.winner import Configuration, Run, group_runs, rank
from tuner.results.winner import repeat_noise as noise_of


def study_of(rows, name: str = "s", storage=None) -> optuna.Study:
    """A finished study of (loss, repeat, dice, gflop, seconds) rows, one trial each."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    for loss, repeat, dice, gflop, seconds in rows:
        study.enqueue_trial({"loss": loss})
        trial = study.ask()
        trial.suggest_categorical("loss", ["bce", "dice", "bce_dice", "switching", "focal"])
        trial.set_user_attr(records.CONFIG, {"loss": loss})
        trial.set_user_attr(records.BEST_VAL_DICE, dice)
        trial.set_user_attr(records.REPEAT, repeat)
        trial.set_user_attr(records.WORK, gflop)
        trial.set_user_attr(records.SECONDS, seconds)
        study.tell(trial, dice)
    study.set_user_attr(records.SEARCHED, ["loss"])
    return study


LOSS_STAGE = [  # five losses x two repeats; one diverged repeat; "switching" on a loaded CPU
    ("bce", 0, 0.850, 100.0, 10), ("bce", 1, 0.846, 100.0, 10),
    ("dice", 0, 0.862, 100.0, 10), ("dice", 1, 0.866, 100.0, 10),
    ("bce_dice", 0, 0.880, 100.0, 10), ("bce_dice", 1, 0.884, 100.0, 10),
    ("switching", 0, 0.874, 100.0, 5), ("switching", 1, 0.874, 100.0, 14),
    ("focal", 0, 0.870, 100.0, 10), ("focal", 1, 0.720, 100.0, 10),  # diverged repeat
]  # fmt: skip


def test_one_diverged_repeat_does_not_make_every_configuration_a_tie():
    groups = configurations(study_of(LOSS_STAGE), ["loss"])
    assert noise_of(groups) == pytest.approx(0.00419, abs=1e-4)  # focal's 0.106 ignored
    winner = choose_winner(study_of(LOSS_STAGE), ["loss"])
    assert winner.fields == {"loss": "bce_dice"}  # not switching, "cheaper" by 9 vs 10 s
    assert winner.mean == pytest.approx(0.882) and winner.n == 2
    assert "best mean" in winner.rule


def test_cheaper_means_less_training_work_not_fewer_seconds():
    rows = [("bce_dice", 0, 0.880, 200.0, 5), ("bce_dice", 1, 0.884, 200.0, 5),
            ("dice", 0, 0.878, 100.0, 30), ("dice", 1, 0.882, 100.0, 30),  # slower CPU
            ("bce", 0, 0.860, 50.0, 5), ("bce", 1, 0.864, 50.0, 5)]
    winner = choose_winner(study_of(rows), ["loss"])
    assert winner.fields == {"loss": "dice"} and winner.work == pytest.approx(100.0)
    assert "cheaper (100 GFLOP vs 200 GFLOP of training)" in winner.rule


def test_without_repeats_the_best_mean_wins_and_no_spread_is_shown():
    winner = choose_winner(study_of([("bce", 0, 0.80, 1.0, 1), ("dice", 0, 0.789, 0.5, 1)]),
                           ["loss"])
    assert winner.fields == {"loss": "bce"} and winner.sd is None
    assert "repeat noise is unknown" in winner.rule
    single = Configuration({"loss": "dice"}, [0.789], [1])
    assert single.describe() == "loss=dice (0.789, n=1)"  # never "± 0.000, n=1"


def test_a_second_run_of_one_repeat_is_no_second_repeat():
    runs = [Run({"loss": "dice"}, 0, 0.8, 1), Run({"loss": "dice"}, 0, 0.8, 2),  # a copy
            Run({"loss": "dice"}, 1, 0.7, 3)]
    (group,) = group_runs(runs)
    assert group.n == 2 and group.trials == [1, 3] and group.mean == pytest.approx(0.75)


def test_ties_are_within_the_standard_error_of_the_difference():
    a = Configuration({"x": 1}, [0.80, 0.82], [0, 1], [10.0, 10.0])
    b = Configuration({"x": 2}, [0.79, 0.81], [2, 3], [20.0, 20.0])
    c = Configuration({"x": 3}, [0.70, 0.72], [4, 5], [5.0, 5.0])
    ranking = rank([b, c, a])
    assert ranking.best is a and ranking.ties == [b] and ranking.winner is a  # b costs more
    assert [ranking.mark(x) for x in (a, b, c)] == ["best", "tie", ""]
    lower_is_better = rank([b, c, a], higher_is_better=False, prefer_cheaper=False)
    assert lower_is_better.best is c and lower_is_better.ties == []


def test_an_unfinished_study_has_no_winner():
    study = study_of([("bce", 0, 0.8, 1.0, 1)])
    study.enqueue_trial({"loss": "dice"})
    with pytest.raises(TunerError, match=r"unfinished \(1 trial\(s\) waiting or running\)"):
        choose_winner(study, ["loss"])


def test_every_reader_names_the_same_winner(sqlite_url, study_name):
    """The campaign's rule, best_of, the table marks, the report's conclusion, the
    dashboard note and tuner evaluate --best agree (they once used three rules)."""
    from optuna_dashboard._note import get_note_from_system_attrs

    from tuner.inference.evaluation import winning_trial
    from tuner.reports import tables
    from tuner.reports.html_report import best_in_words
    from tuner.study.campaign import best_of
    from tuner.study.notes import save_study_note
    from tuner.study.spec import StudySpec, categorical

    rows = [("bce_dice", 0, 0.880, 200.0, 5), ("bce_dice", 1, 0.884, 200.0, 5),
            ("dice", 0, 0.878, 100.0, 30), ("dice", 1, 0.882, 100.0, 30),
            ("bce", 0, 0.860, 50.0, 5), ("bce", 1, 0.864, 50.0, 5)]
    study = study_of(rows, study_name, storage=sqlite_url)
    assert choose_winner(study, ["loss"]).fields == {"loss": "dice"}
    assert best_of(study_name, sqlite_url) == {"loss": "dice"}
    trials = tables.trials_frame(study)
    comparison = tables.comparison_frame(trials, ["loss"])
    marked = comparison.set_index("loss")["best_val_dice_mark"]
    assert marked["dice"] == "best" and marked["bce_dice"] == "tie" and marked["bce"] == ""
    assert best_in_words(tables.ranking(trials, ["loss"]), comparison).startswith(
        "Best configuration: loss=dice")
    spec = StudySpec(name=study_name, space=dict(loss=categorical(["dice", "bce"])))
    save_study_note(study, spec, {})
    note = get_note_from_system_attrs(
        study._storage.get_study_system_attrs(study._study_id), None)["body"]
    assert "`loss=dice`" in note[note.index("### Best configuration"):]
    trial, why = winning_trial(study)
    assert trial.number == 3 and "tie rule prefers the cheaper" in why
