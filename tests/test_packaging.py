"""conceptlens outside its checkout: the workflow run with ``-s``/``-d`` from another
directory and as a Snakemake ``module`` of another workflow (shipped files resolved
against the workflow's folder, results in the working directory), and a built wheel
installed into a fresh virtual environment (the shipped files travel in the package)."""

from __future__ import annotations

import hashlib
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from conceptlens.shipped import CHECKOUT_DIR, PACKAGED_DIR, ShippedFileError, shipped_path
from tests.conftest import REPO, dry_run_jobs, run_snakemake

SNAKEFILE = str(REPO / "Snakefile")
RECORDED_SHA256 = Path(__file__).parent / "data" / "tiny_world_outputs.sha256"


def _overlay(folder: Path, run: str = "mine") -> Path:
    """A user's config in ``folder``: the tiny world (a base: file of the workflow's own
    folder) under another run name."""
    path = folder / "mine.yaml"
    path.write_text(f"base: configs/tiny-world.yaml\nrun: {run}\n")
    return path


def test_shipped_files_are_found_in_the_checkout():
    assert shipped_path("config.yaml") == CHECKOUT_DIR / "config.yaml" == REPO / "config.yaml"
    assert shipped_path("resources/world/target.pt").is_file()
    with pytest.raises(ShippedFileError, match=r"shipped file reports/nothing.css is missing"):
        shipped_path("reports/nothing.css")
    assert PACKAGED_DIR.name == "_workflow"


def test_dry_run_from_another_directory_uses_the_workflow_folder(tmp_path):
    """-s CHECKOUT/Snakefile -d WORKDIR, run from a third folder: the default config and
    the shipped models are the checkout's, the results go under WORKDIR."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_snakemake("-s", SNAKEFILE, "-d", str(work), "-n", "--forceall", cwd=elsewhere)
    assert f"Config file(s): ['{REPO / 'config.yaml'}']" in proc.stdout + proc.stderr
    inside = run_snakemake("-n", "--forceall")
    assert dry_run_jobs(proc.stdout) == dry_run_jobs(inside.stdout)
    assert f"{REPO}/resources/world/target.pt" in proc.stdout
    assert "results/world/activations/full/fc.npz" in proc.stdout
    # a user's overlay with base: configs/tiny-world.yaml (of the workflow folder)
    mine = _overlay(elsewhere)
    proc = run_snakemake("-s", SNAKEFILE, "-d", str(work), "-n", "--configfile", str(mine),
                         cwd=elsewhere)
    assert "results/mine/ground_truth/neurons.parquet" in proc.stdout
    assert not (elsewhere / "results").exists() and not (REPO / "results" / "mine").exists()


def test_dry_run_as_a_module_of_another_workflow(tmp_path):
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""\
        configfile: "mine.yaml"

        module conceptlens:
            snakefile: "{SNAKEFILE}"
            config: config

        use rule * from conceptlens as conceptlens_*
        """))
    _overlay(tmp_path)
    proc = run_snakemake("-n", cwd=tmp_path)
    jobs = dry_run_jobs(proc.stdout)
    assert jobs["conceptlens_all"] == 1 and jobs["conceptlens_report"] == 1
    assert "results/mine/report.html" in proc.stdout
    assert f"{REPO}/resources/world/clip.pt" in proc.stdout


@pytest.mark.slow
def test_tiny_world_runs_from_another_directory(tmp_path):
    """The tiny world run with -s/-d from another folder gives the recorded outputs."""
    work = tmp_path / "work"
    run_snakemake("-s", SNAKEFILE, "-d", str(work), "--cores", "2", "--configfile",
                  str(REPO / "configs" / "tiny-world.yaml"), cwd=tmp_path)
    out = work / "results" / "tiny-world"
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file()
    recorded = dict(line.split()[::-1] for line in RECORDED_SHA256.read_text().splitlines())
    checked = {n: d for n, d in recorded.items() if n.endswith(".csv")}
    assert len(checked) >= 20
    changed = [n for n, d in checked.items()
               if hashlib.sha256((out / n).read_bytes()).hexdigest() != d]
    assert not changed, f"outputs differ from the recorded run: {changed}"


def _without_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A virtual environment with ``wheel`` installed, whose other dependencies (torch ...)
    are this interpreter's site-packages, appended by a .pth file (not re-installed)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # before the .pth, without PYTHONPATH and ignoring what is installed: pip would take
    # this interpreter's conceptlens (a checkout's egg-info) for an installed one
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", "--ignore-installed", str(wheel)], check=True,
                   timeout=600, env=_without_pythonpath())
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                              "get_paths()['purelib'])"], check=True, text=True,
                             capture_output=True).stdout.strip()
    ours = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]])
    # A path line only: the .pth files there (an editable conceptlens) are not run.
    Path(purelib, "zz_dependencies.pth").write_text("\n".join(ours) + "\n")
    return venv


@pytest.mark.slow
def test_wheel_installs_and_describes_from_another_directory(tmp_path):
    """pip wheel . -> a fresh venv -> conceptlens describe and convis from a folder with no
    checkout, no PYTHONPATH: the installed package (its config, world models) is used."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(REPO)], check=True, timeout=600)
    (wheel,) = wheels.glob("conceptlens-*.whl")
    assert 25e6 < wheel.stat().st_size < 60e6  # the world models travel in it (~33 MB)
    venv = _fresh_venv(tmp_path, wheel)
    python, exe = venv / "bin" / "python", venv / "bin" / "conceptlens"
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = _without_pythonpath()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=run_dir, env=env, text=True, capture_output=True,
                              timeout=900)

    where = run(str(python), "-c", textwrap.dedent("""\
        import conceptlens, conceptlens.shipped as s
        from conceptlens.world.generate import SplitSpec, write_split
        from conceptlens.world.vocabulary import world_hierarchy
        print(conceptlens.__file__)
        print(s.workflow_dir())
        write_split(SplitSpec(seed=7, n_images=24), 'split')
        rows = ['concept\\tparent'] + [f'{c}\\t{p or ""}' for c, p in world_hierarchy().items()]
        open('hierarchy.tsv', 'w').write('\\n'.join(rows) + '\\n')
        """))
    assert where.returncode == 0, where.stderr
    package, folder = where.stdout.split()
    assert Path(package).is_relative_to(venv) and not Path(package).is_relative_to(REPO)
    assert Path(folder) == Path(package).parent / "_workflow"
    for name in ("config.yaml", "configs/tiny-world.yaml", "Snakefile", "rules/common.smk",
                 "scripts/describe.py", "reports/report.css", "reports/templates/report.html.j2",
                 "resources/world/target.pt", "resources/world/clip.pt"):
        assert (Path(folder) / name).is_file(), name
    proc = run(str(exe), "describe", "split/images", "--concepts", "world", "--out", "fc.csv")
    assert proc.returncode == 0, proc.stderr
    assert "wrote fc.csv (10 units)" in proc.stdout
    assert (run_dir / "fc.csv").read_text().startswith("layer,unit,concept")
    image = sorted((run_dir / "split" / "images").glob("*.png"))[0]
    proc = run(str(exe), "convis", str(image), "circle", "--clip", "conceptlens-world-clip",
               "--hierarchy", "hierarchy.tsv", "--stride", "64", "--out", "map.png")
    assert proc.returncode == 0, proc.stderr
    assert "No pretrained weights" not in proc.stderr  # the shipped clip.pt by default
    assert (run_dir / "map.png").stat().st_size > 100
    # the installed workflow, dry-run from here
    proc = run(str(python), "-m", "snakemake", "-s", str(Path(folder) / "Snakefile"), "-n",
               "--configfile", str(Path(folder) / "configs" / "tiny-world.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{folder}/resources/world/target.pt" in proc.stdout
