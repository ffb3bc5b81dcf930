"""The test run itself (conftest): quiet and clean."""

import os
import warnings
from pathlib import Path

import gymnasium.logger

ROOT = Path(__file__).resolve().parents[1]


def test_a_gymnasium_deprecation_warns_once_per_run_in_plain_text():
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        for _ in range(3):
            gymnasium.logger.deprecation("The environment %s is out of date.", "RefExp/Test-v0")
    assert [str(w.message) for w in log] == ["WARN: The environment RefExp/Test-v0 is out of date."]
    assert log[0].category is DeprecationWarning and "\x1b[" not in str(log[0].message)


def test_collected_episodes_are_cached_outside_the_checkout():
    cache = Path(os.environ["REFEXP_DATA_CACHE"]).resolve()
    assert cache.is_dir() and ROOT not in cache.parents
