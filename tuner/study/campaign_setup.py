"""A campaign's setup and its checks: a campaign is one setup, like a study, and every
stage is checked before anything is stored or trained.

A campaign's stages build on each other's frozen winners, so a resumed campaign that
trains its next stage at other settings (``--set epochs=1``), on other data, or with a
stage's space edited in the file would mix setups in one lineage, and a finished campaign
rerun with another ``--set`` would print the old scores as if they were the new ones. The
setup (the stages in order and, per stage, everything :func:`tuner.study.setup.study_setup`
records: the campaign file and its content, the stage's space, sampler, pruner, repeats,
the campaign and stage bases with ``--set``/``--data``, the defaults and the dataset's
fingerprint) is stored in the campaign's record study when the campaign first runs and
compared on every later run: a difference ends the command with exit 2 and one line
naming the first one. ``--n-trials`` is a budget, not a setup, and may change.
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner import records
from tuner.errors import TunerError
from tuner.storage import redact
from tuner.study.campaign import Campaign
from tuner.study.checks import check_spec, searched_fields
from tuner.study.setup import first_difference, study_setup


def check_stages(campaign: Campaign, overrides: dict[str, Any]) -> None:
    """Every stage's space, values, sampler, pruner, data and models, checked before the
    first stage runs (a stage with ``scheduler="warp"`` is found now, not after the stages
    before it trained). Each stage is checked on its own base: the winners it will fix
    come from earlier stages' spaces, which are checked too."""
    for stage in campaign.stages:
        try:
            check_spec(campaign.spec(stage, {}), overrides)
        except TunerError as exc:
            raise TunerError(f"campaign {campaign.name!r}, stage {stage.name!r}: {exc}") \
                from None


def campaign_setup(campaign: Campaign, overrides: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe setup of ``campaign`` run with ``overrides``."""
    setup: dict[str, Any] = {"stages": [stage.name for stage in campaign.stages]}
    for stage in campaign.stages:
        spec = campaign.spec(stage, {})
        setup[stage.name] = study_setup(spec, overrides, searched_fields(spec))
    return setup


def setup_difference(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The first difference between two campaign setups, in a short phrase, or None."""
    if stored.get("stages") != current.get("stages"):
        return f"stages: stored {stored.get('stages')}, now {current.get('stages')}"
    for name in current["stages"]:
        difference = first_difference(stored.get(name) or {}, current[name])
        if difference:
            return f"stage {name!r}, {difference}"
    return None


def hold_setup(storage: optuna.storages.BaseStorage, url: str, campaign: Campaign,
               setup: dict[str, Any]) -> None:
    """Store ``setup`` in the campaign's record study on its first run, or insist on the
    stored one; refuse a study of the campaign's name that is not its record."""
    if campaign.name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=campaign.name, storage=storage)
        stored = study.user_attrs.get(records.CAMPAIGN_SETUP)
        if stored is None and records.CAMPAIGN not in study.user_attrs:
            raise TunerError(
                f"campaign {campaign.name!r}: a study of that name in {redact(url)} is not "
                f"a campaign's record ({len(study.trials)} trial(s)); give the campaign "
                "another name in its file")
        if stored is not None:
            difference = setup_difference(stored, setup)
            if difference:
                raise TunerError(
                    f"campaign {campaign.name!r} in {redact(url)} was run with another "
                    f"setup ({difference}); a campaign is one setup: run it as before, or "
                    "give the campaign another name in its file")
            return
    else:
        study = optuna.create_study(study_name=campaign.name, storage=storage,
                                    direction="maximize")
    study.set_user_attr(records.CAMPAIGN_SETUP, setup)  # a campaign stored before setups
