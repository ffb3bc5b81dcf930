"""Citation and changelog stay in step with the code (issue 14, item 19): one version, and every
registered env id, dataset id, results-schema version and cache layout recorded in CHANGELOG.md."""

import re
from pathlib import Path

import refexp_envs
from benchmark.schema import SCHEMA_VERSION
from refexp_envs.datasets.buffers import CACHE_VERSION
from refexp_envs.datasets.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def test_citation_is_cff_1_2_and_names_the_software_version_and_the_paper():
    text = (ROOT / "CITATION.cff").read_text()  # validated by `cffconvert --validate` (not a dependency)
    top = dict(re.findall(r"^([a-z-]+): (.+)$", text, re.M))
    assert top["cff-version"] == "1.2.0" and top["type"] == "software"
    assert top["version"] == refexp_envs.__version__
    paper = text[text.index("preferred-citation:"):]
    assert 'title: "The Reflective Explorer' in paper and "family-names: Rafailov" in paper


def test_pyproject_takes_its_version_from_the_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', text, re.M)
    assert 'version = { attr = "refexp_envs.__version__" }' in text


def test_changelog_records_every_env_dataset_schema_and_cache_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    missing = [i for i in (*refexp_envs.ENV_IDS, *REGISTRY) if f"`{i}`" not in text]
    assert missing == [], f"CHANGELOG.md does not mention {missing}"
    assert f"Results schema {SCHEMA_VERSION}" in text
    assert f"Pixel cache layout {CACHE_VERSION}" in text
    assert f"## {refexp_envs.__version__} " in text
