"""Build step of the package (metadata: pyproject.toml): a wheel, ``pip install .`` and
``pip wheel .`` copy the checkout's shipped files (the default config and the presets,
the report templates, the shipped world models and the workflow: Snakefile, rules,
scripts, envs, profiles) into the package as ``conceptlens/_workflow/``, with the layout
of the checkout, so that an installed ``conceptlens`` works from any directory
(``conceptlens.shipped`` finds them there).  An editable install reads them from the
checkout instead."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# conceptlens.shipped.SHIPPED (not imported here: the build has none of the dependencies)
SHIPPED = ("Snakefile", "config.yaml", "configs", "rules", "scripts", "reports",
           "resources/world", "envs", "profiles")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp", ".snakemake")


class build_py_with_workflow(build_py):  # noqa: N801 (a setuptools command name)
    """build_py, then the shipped files into ``<build>/conceptlens/_workflow/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "conceptlens" / "_workflow"
        missing = [name for name in SHIPPED if not (HERE / name).exists()]
        if missing:
            raise SystemExit(f"conceptlens build: missing in {HERE}: {', '.join(missing)} "
                             "(build from a complete source checkout)")
        shutil.rmtree(target, ignore_errors=True)  # no stale file of an earlier build
        for name in SHIPPED:
            source, dest = HERE / name, target / name
            if source.is_dir():
                shutil.copytree(source, dest, ignore=IGNORED, dirs_exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": build_py_with_workflow})
