"""TrainConfig: defaults, validation with one-line errors, --set parsing."""

from __future__ import annotations

import pytest

from tuner.config import FIELDS, TrainConfig, describe_fields, option_keys, parse_assignments
from tuner.errors import TunerError


def test_defaults_are_valid_and_documented():
    cfg = TrainConfig()
    assert cfg.dataset == "synthetic" and cfg.arch == "unet" and cfg.image_size == 64
    assert {row[0] for row in describe_fields()} == set(FIELDS) | set(option_keys())
    assert all(row[3] for row in describe_fields())  # every field has a help text


def test_the_fields_page_is_what_tuner_fields_writes():
    from pathlib import Path

    from tuner.cli.train import fields_markdown, search_option_rows

    page = Path(__file__).resolve().parents[1] / "docs" / "fields.md"
    assert page.read_text(encoding="utf-8") == fields_markdown(
        describe_fields(), search_option_rows()), (
        "docs/fields.md is stale: run tuner fields --markdown > docs/fields.md")


def test_tuner_fields_lists_every_option_of_every_sampler_and_pruner():
    from typer.testing import CliRunner

    from tuner.cli import app
    from tuner.cli.train import search_option_rows
    from tuner.search.pruners import PRUNERS
    from tuner.search.samplers import SAMPLERS

    rows = {row[0]: row for row in search_option_rows()}
    assert set(rows) == {f"{field}.{c.name}.{o.name}"
                         for field, registry in (("sampler_options", SAMPLERS),
                                                 ("pruner_options", PRUNERS))
                         for c in registry.components() for o in c.options}
    assert rows["sampler_options.tpe.n_startup_trials"][1:] == (
        "int", "10", "trials drawn at random before TPE models the results [>= 0]")
    assert rows["sampler_options.cmaes.sigma0"][3].endswith("[> 0 | None]")
    assert rows["pruner_options.hyperband.min_resource"][1:3] == ("int", "1")
    assert rows["pruner_options.successive_halving.min_resource"][3].endswith(
        "[>= 1 | 'auto']")
    assert rows["pruner_options.hopeless.margin"][3].endswith(" [0, 1)")
    page = CliRunner().invoke(app, ["fields", "--markdown"]).output
    assert "## Sampler and pruner options" in page
    assert "| `pruner_options.percentile.percentile` | float | `25.0` |" in page


@pytest.mark.parametrize(("values", "words"), [
    ({"loss": "dice", "loss_options.focal.gamma": 11},
     "config field 'loss_options': loss 'focal' option 'gamma': got 11.0, expected a value "
     "in [0, 10]"),
    ({"loss_options.nosuch.x": 1},
     "config field 'loss_options': unknown loss 'nosuch'; expected one of: bce, dice"),
    ({"loss": "dice", "loss_options.focal.gama": 3},
     "config field 'loss_options': loss 'focal' has no option 'gama'; its options: gamma"),
    ({"data_options.nosuch.images_dir": "x"},
     "config field 'data_options': unknown dataset 'nosuch'; expected one of:"),
    ({"data_options.oxford-pet.trimap_border": "sideways"},  # the dataset is synthetic
     "config field 'data_options': dataset 'oxford-pet' option 'trimap_border': got "
     "'sideways', expected one of foreground, background"),
    ({"synthetic_images": 5}, "dataset 'synthetic' option 'images': got 5, expected a value "
                              "in [12, 100000]"),
])
def test_component_options_are_checked_whether_or_not_the_component_is_chosen(values, words):
    with pytest.raises(TunerError) as info:
        TrainConfig.from_dict(values, "--set")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_options_of_a_component_not_chosen_are_kept_when_valid():
    cfg = TrainConfig.from_dict({"loss": "dice", "loss_options.focal.gamma": 3,
                                 "data_options.folder.masks_dir": "labels"})
    assert cfg.loss_options == {"focal": {"gamma": 3}}  # for a focal trial of the space
    assert cfg.data_options == {"folder": {"masks_dir": "labels"}}


def test_options_are_reached_by_path_or_by_their_old_flat_names():
    cfg = TrainConfig.from_dict({"loss_options.focal.gamma": 3, "masks_dir": "labels",
                                 "foreground_values": "255"})
    assert cfg.loss_options == {"focal": {"gamma": 3}}
    assert cfg.data_options["folder"] == {"masks_dir": "labels", "foreground_values": "255"}
    assert cfg.data_options["isic"] == {"foreground_values": "255"}  # it was for all three
    assert parse_assignments(["loss_options.focal.gamma=2.5"]) == {
        "loss_options.focal.gamma": 2.5}
    with pytest.raises(TunerError, match="unknown config field 'loss_options.focal'"):
        TrainConfig.from_dict({"loss_options.focal": 1})
    with pytest.raises(TunerError, match=r"'loss_options': got 3, expected \{component"):
        TrainConfig(loss_options=3)


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"optimizer": "adamm"}, "optimizer", "one of adam, adamw"),
    ({"lr": 0}, "lr", "(0, 10]"),
    ({"lr": -1e-3}, "lr", "(0, 10]"),
    ({"dropout": 1.0}, "dropout", "[0, 1)"),
    ({"epochs": 2.5}, "epochs", "an integer"),
    ({"batchnorm": "yes"}, "batchnorm", "true or false"),
    ({"loss": "l2"}, "loss", "switching"),
    ({"dataset": "imagenet"}, "dataset", "folder:PATH"),
])
def test_bad_values_name_the_field_and_what_is_allowed(changes, field, expected):
    with pytest.raises(TunerError) as info:
        TrainConfig().replace(**changes)
    message = str(info.value)
    assert f"'{field}'" in message and expected in message and "\n" not in message


def test_unknown_field_suggests_the_close_one():
    with pytest.raises(TunerError, match=r"unknown config field 'weight_decy'.*'weight_decay'"):
        TrainConfig.from_dict({"weight_decy": 0.1}, "--set")


def test_fractions_must_leave_images_to_train():
    with pytest.raises(TunerError, match="val_fraction \\+ test_fraction"):
        TrainConfig(val_fraction=0.5, test_fraction=0.5)


def test_ints_become_floats_and_integral_floats_ints():
    cfg = TrainConfig(lr=1, epochs=3.0)
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0
    assert isinstance(cfg.epochs, int) and cfg.epochs == 3


def test_parse_assignments_types_values_by_field():
    parsed = parse_assignments(["lr=3e-4", "epochs=30", "batchnorm=false", "loss=dice",
                                "dataset=folder:/data/x=y"])
    assert parsed == {"lr": 3e-4, "epochs": 30, "batchnorm": False, "loss": "dice",
                      "dataset": "folder:/data/x=y"}


@pytest.mark.parametrize(("pair", "match"), [
    ("lr", "expected key=value"),
    ("epochs=ten", "'epochs': got 'ten', expected an integer"),
    ("nope=1", "unknown config field 'nope'"),
    ("batchnorm=maybe", "true or false"),
])
def test_parse_assignments_rejects_bad_pairs(pair, match):
    with pytest.raises(TunerError, match=match):
        parse_assignments([pair])


def test_to_dict_round_trips():
    cfg = TrainConfig(lr=0.01, loss="switching")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_folds_and_fold_are_checked_and_stored_only_with_folds():
    """``fold`` lies in [0, folds); a config without folds stores what it stored before."""
    assert "folds" not in TrainConfig().to_dict() and "fold" not in TrainConfig().to_dict()
    five = TrainConfig(folds=5, fold=4)
    assert five.to_dict()["folds"] == 5 and five.to_dict()["fold"] == 4
    assert TrainConfig.from_dict(five.to_dict()) == five
    assert TrainConfig(folds=3).replace(lr=0.1).folds == 3
    with pytest.raises(TunerError, match=r"'fold': got 3, expected 0\.\.2"):
        TrainConfig(folds=3, fold=3)
    with pytest.raises(TunerError, match="'fold': got 1, expected 0..0"):
        TrainConfig(fold=1)
    with pytest.raises(TunerError, match="'folds'"):
        TrainConfig(folds=0)
    TrainConfig(folds=2, val_fraction=0.5, test_fraction=0.5)  # val_fraction sizes nothing
    assert parse_assignments(["folds=5"]) == {"folds": 5}
