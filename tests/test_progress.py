"""conceptlens.progress: where progress lines go (a job's log, the command line's stderr,
nowhere); only that they are there, never what they say."""

from __future__ import annotations

import logging

from conceptlens.progress import ENV, LOGGER, console_progress, progress


def test_without_a_log_or_console_a_bar_is_quiet_and_still_iterates(capsys):
    bar = progress(range(4), desc="quiet loop")
    assert list(bar) == [0, 1, 2, 3] and bar.disable
    manual = progress(total=3, desc="quiet manual")
    manual.update(3)
    manual.set_postfix(loss=1.0)
    manual.close()
    assert capsys.readouterr() == ("", "")


def test_logging_at_info_gets_one_plain_line_per_loop(caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert sum(progress(range(5), desc="logged loop", unit="images")) == 10
        with progress(total=None, desc="logged manual", unit="steps") as bar:
            bar.update(2)
    lines = [r.getMessage() for r in caplog.records if getattr(r, "progress", False)]
    assert any("logged loop" in line and "images/s" in line for line in lines)
    assert any("logged manual" in line for line in lines)
    assert not any("\r" in line for line in lines)


def test_the_console_gets_the_lines_on_stderr(capsys):
    with console_progress("conceptlens test"):
        for _ in progress(range(3), desc="console loop"):
            pass
    err = capsys.readouterr().err
    assert "conceptlens test: console loop" in err and "it/s" in err


def test_off_turns_progress_off(monkeypatch, caplog, capsys):
    monkeypatch.setenv(ENV, "off")
    with caplog.at_level(logging.INFO, logger=LOGGER), console_progress():
        assert progress(range(2), desc="off loop").disable
    assert "off loop" not in caplog.text + capsys.readouterr().err
