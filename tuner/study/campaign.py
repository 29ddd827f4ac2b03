"""Chaining studies into a campaign: a later stage fixes the best of an earlier one.

Tuning reports go in stages (a learning rate per optimizer, then a scheduler, then weight
decay...), each stage fixing the winner of the stage before. In a study file::

    from tuner import StudySpec, best_of, categorical

    study = StudySpec(name="scheduler", base={**best_of("lr_by_optimizer"), "epochs": 15},
                      space=dict(scheduler=categorical(["none", "cosine", "onecycle"])))

:func:`best_of` reads the earlier study from the storage (``$TUNER_STORAGE``, which
``tuner run --storage`` sets, else the default) and returns the config fields that its
trials varied, with the values of its best completed trial.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState

from tuner import records
from tuner.config import RUN_FIELDS
from tuner.errors import TunerError
from tuner.storage import load_existing_study

#: fields that vary between trials without being searched: how a run computed, and the
#: training seed that repeats shift
NOT_CHOSEN = {*RUN_FIELDS, "seed"}


def best_of(study_name: str, storage: str | None = None) -> dict[str, Any]:
    """Config fields that differ between the trials of ``study_name``, as in its best
    completed trial (by validation Dice)."""
    study = load_existing_study(storage, study_name)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    configs = [t.user_attrs.get(records.CONFIG) for t in done]
    if not done or any(c is None for c in configs):
        raise TunerError(f"best_of({study_name!r}): the study has no completed trial yet; "
                         "run it first")
    varied = {key for key in configs[0]
              if key not in NOT_CHOSEN and len({repr(c.get(key)) for c in configs}) > 1}
    best = records.ranked_trials(study, top=1)[0]
    return {key: best.user_attrs[records.CONFIG][key] for key in sorted(varied)}
