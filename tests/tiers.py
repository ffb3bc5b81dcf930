"""The quick tier's representatives: of a parametrised test, `-m "not slow"` runs the values named
here and the full run (CI) runs them all."""

import pytest

QUICK_ENV = "RefExp/TwoDrawer-v1"  # the paper's domain: the env every behaviour is first checked on


def quick_only(values, quick=(QUICK_ENV,)):
    """`values` (single values or tuples of arguments) as pytest parameters, each one not in `quick`
    marked slow."""
    return [v if v in quick else pytest.param(*(v if isinstance(v, tuple) else (v,)), marks=pytest.mark.slow)
            for v in values]
