"""Helpers of the search tests."""

from __future__ import annotations

import pytest

from tuner.errors import TunerError


def refusal(spec) -> str:
    """The one line with which the pre-run check refuses ``spec``'s sampler or pruner."""
    from tuner.study.checks import rehearse_search

    with pytest.raises(TunerError) as info:
        rehearse_search(spec)
    assert "\n" not in str(info.value)
    return str(info.value)
