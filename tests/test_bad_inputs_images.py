"""Bad image inputs (issue 19): a file that cannot be decoded is one clear error naming it
(and its config key), wherever it is read; 16-bit, float, transparent, palette, CMYK and
1-bit images come out as the right 8-bit RGB; tiny images and tiny folders are warnings."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conceptlens.images import (
    MIN_SIDE,
    ImageDecodeError,
    check_image,
    load_rgb,
    load_rgb_array,
    tiny_images,
    to_rgb,
)

rng = np.random.default_rng(19)


def _photo(path: Path, size: tuple[int, int] = (48, 32), fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        path, format=fmt)
    return path


def _truncated(path: Path) -> Path:
    """``path`` (an image file) cut to half its bytes: its header still reads."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


# ------------------------------------------------------------------ undecodable files

def _bad_file(tmp_path: Path, case: str) -> Path:
    if case == "truncated jpeg":
        return _truncated(_photo(tmp_path / "a.jpg"))
    if case == "truncated png":
        return _truncated(_photo(tmp_path / "a.png"))
    if case == "not an image":
        path = tmp_path / "a.jpg"
        path.write_text("<html>404 not found</html>")
        return path
    if case == "empty file":
        path = tmp_path / "a.png"
        path.write_bytes(b"")
        return path
    return tmp_path / "gone.jpg"  # missing


BAD_FILES = {"truncated jpeg": "cannot be decoded (image file is truncated",
             "truncated png": "cannot be decoded (image file is truncated",
             "not an image": "is not an image PIL can read: remove or re-save it",
             "empty file": "is not an image PIL can read: remove or re-save it",
             "missing": "does not exist: restore it or re-index the probe set"}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_an_undecodable_file_is_one_line_naming_it(tmp_path, case):
    path = _bad_file(tmp_path, case)
    for read in (load_rgb, load_rgb_array, check_image):
        with pytest.raises(ImageDecodeError) as err:
            read(path, what="probe image", source="config key probe.path: /data/x")
        text = str(err.value)
        assert text.startswith(f"probe image {path} ")
        assert BAD_FILES[case] in text and text.endswith("(config key probe.path: /data/x)")
        assert "\n" not in text


def test_the_index_decodes_every_image_and_names_the_bad_one_and_the_key(tmp_path):
    from conceptlens.probes import probe_index

    folder = tmp_path / "probe"
    for i in range(4):
        _photo(folder / f"{i}.jpg")
    bad = _truncated(folder / "2.jpg")
    spec = {"source": "folder", "path": str(folder)}
    assert len(probe_index(spec, decode=False)) == 4  # the header alone reads
    for workers in (1, 2):
        with pytest.raises(ImageDecodeError, match=(
                rf"^probe image {bad} cannot be decoded \(image file is truncated.*\): remove "
                rf"or re-save it \(config key probe.path: {folder}\)$")):
            probe_index(spec, workers=workers)


def test_sizes_of_a_decoded_jpeg_are_its_own_not_the_drafts(tmp_path):
    assert check_image(_photo(tmp_path / "a.jpg", (203, 117))) == (203, 117)


@pytest.mark.parametrize("workers", [0, 2])
def test_the_view_loader_names_the_file_from_its_workers_too(tmp_path, workers):
    from conceptlens.views import full_boxes, view_loader

    files = [_photo(tmp_path / f"{i}.jpg", (32, 32)) for i in range(4)]
    _truncated(files[3])
    loader = view_loader(files, full_boxes(4, 32, 32), 16, batch_size=2, workers=workers)
    with pytest.raises(ImageDecodeError) as err:
        list(loader)
    # DataLoader re-raises a worker's error with the worker's traceback as its message;
    # the error keeps the original line only
    assert str(err.value).startswith(f"probe image {files[3]} cannot be decoded (")
    assert str(err.value).endswith("): remove or re-save it")
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)


def test_a_wrapped_message_without_the_line_is_kept_whole():
    text = "Caught ImageDecodeError in DataLoader worker process 0.\nOriginal Traceback: ?"
    assert str(ImageDecodeError(text)) == text


def test_probe_images_and_the_explorer_name_the_file(tmp_path):
    import pandas as pd

    from conceptlens.io.probe import ProbeImages, write_probe_index
    from conceptlens.report.explorer import write_thumbnails

    bad = _truncated(_photo(tmp_path / "images" / "000000.png"))
    write_probe_index(tmp_path, pd.DataFrame({"image_id": [0], "file": ["images/000000.png"]}))
    with pytest.raises(ImageDecodeError, match=f"^probe image {bad} cannot be decoded"):
        ProbeImages(tmp_path)[0]
    with pytest.raises(ImageDecodeError, match=f"^probe image {bad} cannot be decoded"):
        write_thumbnails(tmp_path / "thumbs", [0], lambda _i: bad, workers=1)


def test_a_jpeg_thumbnail_is_decoded_at_reduced_scale(tmp_path):
    from conceptlens.report.explorer import write_thumbnails

    big = _photo(tmp_path / "big.jpg", (640, 480))
    assert write_thumbnails(tmp_path / "thumbs", [7], lambda _i: big, size=64, workers=1) > 0
    with Image.open(tmp_path / "thumbs" / "7.jpg") as img:
        assert img.size == (64, 64)
    assert load_rgb(big, draft=(64, 64)).size == (160, 120)  # 1/4 scale, still >= 64 px


# ------------------------------------------------------------------ modes

def _png(img: Image.Image) -> Image.Image:
    """``img`` written as a PNG and decoded back (the file a user would have)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    buf.seek(0)
    return Image.open(buf)


def _rgb(img: Image.Image) -> np.ndarray:
    out = to_rgb(img)
    assert out.mode == "RGB"
    return np.asarray(out)


@pytest.mark.parametrize(("values", "expected"), [
    ([0, 257, 32896, 65535], [0, 1, 128, 255]),  # 16-bit: / 257
    ([1000, 20000, 40000, 60000], [4, 78, 156, 233]),
])
def test_16_bit_grey_pngs_are_scaled_not_clipped(tmp_path, values, expected):
    grey = np.array([values], dtype=np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"
        assert (np.asarray(img.convert("RGB"))[0, 1:, 0] == 255).all()  # PIL's: clipped
    rgb = load_rgb_array(path)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, :, 0].tolist() == expected and (rgb == rgb[..., :1]).all()


def test_16_bit_big_endian_is_scaled_too():
    img = Image.fromarray(np.full((2, 2), 32896, dtype=">u2"))
    assert img.mode == "I;16B" and (_rgb(img) == 128).all()


@pytest.mark.parametrize(("mode", "values", "expected"), [
    ("I", [0, 100, 255], [0, 100, 255]),            # 8-bit values: as they are
    ("I", [0, 32896, 65535], [0, 128, 255]),        # 16-bit values: full scale 65535
    ("I", [-5, 0, 200000], [0, 0, 255]),            # beyond: the maximum; negatives 0
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]),          # unit floats: full scale 1
    ("F", [0.0, 128.0, 250.0], [0, 128, 250]),      # 8-bit floats: full scale 255
    ("F", [float("nan"), 5e4, 1e5], [0, 128, 255]),  # non-finite -> 0; the maximum
])
def test_32_bit_int_and_float_images_use_their_full_scale(mode, values, expected):
    dtype = np.int32 if mode == "I" else np.float32
    img = Image.fromarray(np.array([values], dtype=dtype))
    assert img.mode == mode
    assert _rgb(img)[0, :, 0].tolist() == expected


RED = (255, 0, 0)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: Image.new("RGBA", (2, 2), (*RED, 0)), (255, 255, 255)),      # transparent: white
    (lambda: Image.new("RGBA", (2, 2), (*RED, 255)), RED),                # opaque: as it is
    (lambda: Image.new("RGBA", (2, 2), (*RED, 128)), (255, 127, 127)),    # half: blended
    (lambda: Image.new("LA", (2, 2), (0, 0)), (255, 255, 255)),
    (lambda: Image.new("LA", (2, 2), (40, 255)), (40, 40, 40)),
])
def test_alpha_is_composited_over_white(make, expected):
    img = _png(make())
    assert (_rgb(img) == expected).all()


def test_palette_and_colour_key_transparency_are_composited_over_white():
    pal = Image.new("P", (2, 1))
    pal.putpalette([*RED, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 0), 1)
    pal.info["transparency"] = 0  # entry 0 (red) is transparent
    assert _rgb(_png(pal)).tolist() == [[[255, 255, 255], [0, 0, 255]]]
    key = Image.new("RGB", (2, 1), RED)
    key.putpixel((1, 0), (0, 255, 0))
    key.info["transparency"] = RED
    decoded = _png(key)
    assert "transparency" in decoded.info
    assert _rgb(decoded).tolist() == [[[255, 255, 255], [0, 255, 0]]]


def test_palette_cmyk_and_1_bit_images_come_out_right(tmp_path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putpixel((1, 0), 1)
    assert _rgb(_png(pal)).tolist() == [[[10, 20, 30], [200, 100, 50]]]
    cmyk = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (255, 0, 0, 0))
    path = tmp_path / "cmyk.jpg"
    cmyk.save(path, quality=100)
    rgb = load_rgb_array(path).astype(int)
    assert np.abs(rgb[0, 0] - [255, 255, 255]).max() <= 3   # no ink: white
    assert np.abs(rgb[0, 1] - [0, 255, 255]).max() <= 3     # cyan
    one = Image.new("1", (2, 1), 0)
    one.putpixel((1, 0), 1)
    assert _rgb(_png(one)).tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_rgb_images_are_unchanged(tmp_path):
    path = _photo(tmp_path / "a.png")
    with Image.open(path) as img:
        expected = np.asarray(img)
    assert (load_rgb_array(path) == expected).all()


# ------------------------------------------------------------------ tiny images and folders

def test_tiny_images_are_counted_with_an_example():
    files = ["a.png", "b.png", "c.png", "d.png"]
    sizes = np.array([[64, 64], [1, 1], [MIN_SIDE, MIN_SIDE], [300, MIN_SIDE - 1]])
    note = tiny_images(files, sizes)
    assert note.startswith(f"2 of 4 probe images are smaller than {MIN_SIDE} px on a side, "
                           "e.g. b.png (1 x 1 px)")
    assert "\n" not in note
    assert tiny_images(files, np.full((4, 2), MIN_SIDE)) is None


def test_the_index_stage_warns_of_tiny_images(tmp_path, caplog):
    from conceptlens.stages.probe import probe_index

    folder = tmp_path / "probe"
    for i in range(3):
        _photo(folder / f"{i}.png")
    _photo(folder / "pixel.png", (1, 1))
    with caplog.at_level(logging.INFO):
        index = probe_index({"source": "folder", "path": str(folder)}, logging.getLogger("t"))
    assert len(index.table) == 4
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and getattr(warned[0], "console", False)
    assert warned[0].getMessage().startswith(
        f"1 of 4 probe images are smaller than {MIN_SIDE} px on a side, e.g. "
        f"{(folder / 'pixel.png').resolve()} (1 x 1 px)")
    assert any("all decoded in" in r.getMessage() for r in caplog.records)


RULE = """
import json, logging, sys
from types import SimpleNamespace
from conceptlens.workflow import rule_context
snakemake = SimpleNamespace(log=[{log!r}], threads=1, rule="probe_index")
with rule_context(snakemake) as log:
    log.info("only in the log")
    log.warning("in the log only")
    log.warning("3 of 9 probe images are tiny", extra={{"console": True}})
"""


def test_console_warnings_of_a_rule_reach_its_log_and_stderr(tmp_path):
    log = tmp_path / "rule.log"
    done = subprocess.run([sys.executable, "-c", RULE.format(log=str(log))],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "conceptlens probe_index: warning: 3 of 9 probe images are tiny"
    text = log.read_text()
    assert "only in the log" in text and "in the log only" in text
    assert "WARNING 3 of 9 probe images are tiny" in text


@pytest.mark.parametrize(("n", "k", "expected"), [
    (3, (40, 1), "only 3 images under /x: descriptions from so few images are weak (www's k "
                 "lowered from 40 to 1: each neuron is described by its top image); 100 or "
                 "more are advised"),
    (30, (10, 10), "only 30 images under /x: descriptions from so few images are weak (www's "
                   "k = 10: each neuron is described by its top 10 images); 100 or more are "
                   "advised"),
    (5, None, "only 5 images under /x: descriptions from so few images are weak; 100 or more "
              "are advised"),
    (100, (40, 5), None),
])
def test_few_images_note(n, k, expected):
    from conceptlens.quick import few_images_note

    assert few_images_note(n, "/x", "www", k) == expected


@pytest.mark.slow
def test_describe_on_three_images_says_how_few_once(tmp_path, capsys):
    from conceptlens.cli import main

    for i in range(3):
        _photo(tmp_path / "imgs" / f"{i}.png", (64, 64))
    assert main(["describe", str(tmp_path / "imgs"), "--concepts", "world", "--units", "0",
                 "--k", "10"]) == 0
    err = capsys.readouterr().err.splitlines()
    few = [line for line in err if "only 3 images under" in line]
    assert few == [f"conceptlens describe: warning: only 3 images under {tmp_path / 'imgs'}: "
                   "descriptions from so few images are weak (www's k lowered from 10 to 3: "
                   "each neuron is described by its top 3 images); 100 or more are advised"]
    lowered = [line for line in err if "lowered to 3" in line]
    assert len(lowered) == 1, err  # said once, not again as a caught warning



@pytest.fixture
def folder_workflow(tmp_path):
    """A copy of the workflow whose probe set is a folder of 6 small photos."""
    import shutil

    import yaml

    from tests.conftest import REPO

    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
    for i in range(6):
        _photo(work / "photos" / f"{i}.jpg", (40, 30))
    config = {"base": "config.yaml", "run": "bad-images", "threads": 1,
              "target": {"source": "torchvision", "name": "resnet18", "weights": None},
              "probe": {"source": "folder", "path": str(work / "photos")}, "layers": ["fc"]}
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    return work


@pytest.mark.slow
def test_the_workflows_index_warns_of_tiny_images_and_stops_at_a_truncated_one(
        folder_workflow):
    from tests.conftest import run_snakemake

    work = folder_workflow
    out = work / "results" / "bad-images"
    args = ("results/bad-images/probe", "--cores", "1", "--configfile", str(work / "bad.yaml"))
    _photo(work / "photos" / "pixel.png", (1, 1))
    done = run_snakemake(*args, cwd=work)
    warning = (f"conceptlens probe_index: warning: 1 of 7 probe images are smaller than "
               f"{MIN_SIDE} px on a side, e.g. {work / 'photos' / 'pixel.png'} (1 x 1 px)")
    assert warning in done.stderr
    assert warning.split("warning: ", 1)[1] in (out / "logs" / "probe_index.log").read_text()
    bad = _truncated(work / "photos" / "3.jpg")
    failed = run_snakemake(*args, cwd=work, check=False)
    assert failed.returncode != 0
    line = f"probe image {bad} cannot be decoded ("
    assert line in failed.stderr
    assert f"remove or re-save it (config key probe.path: {work / 'photos'})" in failed.stderr
    assert line in (out / "logs" / "probe_index.log").read_text()
