"""Config overrides that make any study train in about a second (tests only)."""

TINY = dict(epochs=2, image_size=32, synthetic_images=24, base_channels=4, batch_size=8)
TINY_SETS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


def tiny_sets_for(study_file) -> list[str]:
    """TINY_SETS without the fields that the study searches (--set may not fix those)."""
    from tuner.study.checks import searched_fields
    from tuner.study.spec import load_spec

    searched = searched_fields(load_spec(study_file))
    return [arg for key, value in TINY.items() if key not in searched
            for arg in ("--set", f"{key}={value}")]
