"""Campaigns: studies in stages, each stage fixing the frozen winners of the stages before.

Tuning reports go in stages (a learning rate per optimizer, then a scheduler, then weight
decay and dropout, then the loss, then augmentation), each fixing the best of the stage
before. A campaign file defines them::

    from tuner import Campaign, Stage, categorical

    campaign = Campaign(name="unet", base=dict(epochs=15), stages=[
        Stage("lr", space=lr_space, sampler="tpe", n_trials=24),
        Stage("scheduler", space=dict(scheduler=categorical(["none", "cosine"]))),
    ])

``tuner campaign FILE`` runs stage k as the study ``<campaign>/<stage>`` with the
campaign's base, then the winners of stages 1..k-1, then the stage's own base. When a
stage is complete its winner (:mod:`tuner.results.winner`: best mean over repeats, ties to
the cheaper) is frozen into the campaign's record, a study named ``<campaign>`` whose user
attribute :data:`tuner.records.CAMPAIGN` maps each stage to its winner; later stages read
that record, never the live study, so they never see a moving target.

In a plain study file, :func:`best_of` applies the same rule to any finished study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from tuner import records
from tuner.errors import TunerError
from tuner.results.runs import choose_winner, searched_of
from tuner.storage import load_existing_study
from tuner.study import run_context
from tuner.study.spec import Space, StudySpec, load_definition


def best_of(study_name: str, storage: str | None = None) -> dict[str, Any]:
    """The searched fields of ``study_name``'s winning configuration (the best mean
    validation Dice over its repeats, ties to the cheaper); one clear line when the study
    is missing, unfinished or has no completed trial. ``storage`` defaults to the run's
    that loads the study file (:mod:`tuner.study.run_context`)."""
    study = load_existing_study(storage or run_context.storage(), study_name)
    try:
        return choose_winner(study, searched_of(study)).fields
    except TunerError as exc:
        raise TunerError(f"best_of({study_name!r}): {exc}") from None


@dataclass
class Stage:
    """One stage: a study's space and settings; ``carry`` names the searched fields that
    later stages fix (default: every searched field)."""

    name: str
    space: Space
    base: dict[str, Any] = field(default_factory=dict)
    question: str = ""
    sampler: str = "grid"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int | None = None
    repeats: int = 1
    carry: tuple[str, ...] | None = None


@dataclass
class Campaign:
    """Stages run in order under one name, in one storage."""

    name: str
    stages: list[Stage]
    base: dict[str, Any] = field(default_factory=dict)
    question: str = ""
    source: str = "<campaign>"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "/" in self.name:
            raise TunerError("Campaign 'name' must be a non-empty string without '/'")
        names = [getattr(s, "name", None) for s in self.stages]
        if not self.stages or not all(isinstance(s, Stage) for s in self.stages):
            raise TunerError("Campaign 'stages' must be a non-empty list of Stage(...)")
        if len(set(names)) != len(names) or any(not n or "/" in n for n in names):
            raise TunerError(f"Campaign stages need distinct names without '/'; got {names}")
        for stage in self.stages:  # each stage's own mistakes, with its name
            self.spec(stage, {})

    def study_name(self, stage: Stage) -> str:
        return f"{self.name}/{stage.name}"

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise TunerError(f"campaign {self.name!r} has no stage {name!r}")

    def spec(self, stage: Stage, fixed: dict[str, Any], n_trials: int | None = None
             ) -> StudySpec:
        """The study of ``stage``: campaign base <- earlier winners ``fixed`` <- stage base;
        ``n_trials`` (``tuner campaign --n-trials``) replaces a sampled stage's own."""
        sampled = stage.sampler != "grid"
        try:
            return StudySpec(
                name=self.study_name(stage), space=stage.space,
                base={**self.base, **fixed, **stage.base},
                question=stage.question or f"{self.question} Stage {stage.name!r}.".strip(),
                sampler=stage.sampler, sampler_options=stage.sampler_options,
                pruner=stage.pruner, pruner_options=stage.pruner_options,
                n_trials=n_trials if n_trials is not None and sampled else stage.n_trials,
                repeats=stage.repeats, source=self.source)
        except TunerError as exc:
            raise TunerError(f"stage {stage.name!r}: {exc}") from None


def stage_budget(spec: StudySpec) -> str:
    """What a stage's study runs to be complete, in words: ``grid 5 x 2 repeats`` or ``25
    trials (tpe)``; kept with its frozen winner, so that the lineage shows the budget the
    stage ran with (``tuner campaign --n-trials`` may have replaced its own)."""
    if spec.is_grid:
        points = len(spec.grid_points())
        return f"grid {points}" + (f" x {spec.repeats} repeats" if spec.repeats > 1 else "")
    return f"{spec.default_n_trials()} trials ({spec.sampler})"


def fixed_by(campaign: Campaign, record: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """What the stages before ``stage`` fix, from their frozen winners in ``record``."""
    fixed: dict[str, Any] = {}
    for earlier in campaign.stages:
        if earlier is stage:
            return fixed
        winner = record.get(earlier.name)
        if winner is None:
            raise TunerError(f"stage {stage.name!r} needs the winner of stage "
                             f"{earlier.name!r}, which is not frozen yet")
        carried = earlier.carry or tuple(winner["fields"])
        fixed.update({k: v for k, v in winner["fields"].items() if k in carried})
    return fixed


def read_record(storage: optuna.storages.BaseStorage, campaign: Campaign) -> dict[str, Any]:
    """The frozen winners of ``campaign`` (``{stage: winner}``), empty before the first."""
    if campaign.name not in optuna.get_all_study_names(storage):
        return {}
    study = optuna.load_study(study_name=campaign.name, storage=storage)
    return dict(study.user_attrs.get(records.CAMPAIGN, {}))


def freeze_winner(storage: optuna.storages.BaseStorage, campaign: Campaign, stage: Stage,
                  winner: dict[str, Any]) -> dict[str, Any]:
    """Add ``stage``'s winner to the record, once: a frozen winner never changes."""
    study = optuna.create_study(study_name=campaign.name, storage=storage,
                                load_if_exists=True, direction="maximize")
    record = dict(study.user_attrs.get(records.CAMPAIGN, {}))
    if stage.name not in record:
        record[stage.name] = winner
        study.set_user_attr(records.CAMPAIGN, record)
    return record


def read_final(storage: optuna.storages.BaseStorage, campaign: Campaign
               ) -> dict[str, Any] | None:
    """The campaign's final test scores, once stored (:data:`tuner.records.CAMPAIGN_FINAL`)."""
    if campaign.name not in optuna.get_all_study_names(storage):
        return None
    study = optuna.load_study(study_name=campaign.name, storage=storage)
    return study.user_attrs.get(records.CAMPAIGN_FINAL)


def store_final(storage: optuna.storages.BaseStorage, campaign: Campaign,
                final: dict[str, Any]) -> None:
    """Keep the final test scores in the campaign's record (once: callers check first)."""
    optuna.load_study(study_name=campaign.name, storage=storage).set_user_attr(
        records.CAMPAIGN_FINAL, final)


def stage_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The study of a campaign stage, as stored."""
    return optuna.load_study(study_name=name, storage=storage)


def load_campaign(path: str | Path, storage: str | None = None,
                  overrides: dict[str, Any] | None = None) -> Campaign:
    """Import the campaign file at ``path`` and return its ``campaign``; one-line errors
    (``storage`` and ``overrides``: the run's, as for :func:`tuner.study.spec.load_spec`)."""
    with run_context.loading(storage, overrides or {}):
        campaign = load_definition(path, "campaign file", "campaign", Campaign)
    campaign.source = str(path)
    return campaign


def stage_spec(path: str | Path, stage_name: str, url: str | None,
               overrides: dict[str, Any], n_trials: int | None = None) -> StudySpec:
    """The study of stage ``stage_name`` of the campaign file at ``path``, with the
    winners frozen before it in the storage at ``url`` (how a spawned worker of a campaign
    stage gets its spec)."""
    from tuner.storage import open_storage

    campaign = load_campaign(path, url, overrides)
    storage = open_storage(url)
    stage = campaign.stage(stage_name)
    return campaign.spec(stage, fixed_by(campaign, read_record(storage, campaign), stage),
                         n_trials)
