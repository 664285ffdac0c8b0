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


def test_a_jobs_progress_goes_to_its_log_and_where_asked_to_the_console(
        tmp_path, monkeypatch, capfd):
    from types import SimpleNamespace

    from conceptlens.workflow import rule_context

    monkeypatch.setenv(ENV, "console")  # as describe --report runs the workflow
    log = tmp_path / "job.log"
    job = SimpleNamespace(log=[str(log)], threads=1, rule="some_rule")
    with rule_context(job):
        for _ in progress(range(3), desc="job loop"):
            pass
    assert "job loop" in log.read_text()
    assert "conceptlens some_rule: progress: job loop" in capfd.readouterr().err


def test_describe_report_shows_the_step_counts_and_progress_lines():
    from conceptlens.folder_report import shown_on_terminal

    assert shown_on_terminal("13 of 18 steps (72%) done\n")
    assert shown_on_terminal("1 of 3 steps (33.3%) done\n")
    assert shown_on_terminal("conceptlens activations: progress: target pass, full view: "
                             "50% 50/100 images [00:01<00:01, 50.0images/s]\n")
    assert not shown_on_terminal("rule activations:\n")
    assert not shown_on_terminal("conceptlens activations: warning: few images\n")
