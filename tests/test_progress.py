"""The status line of long runs: on a terminal only, fed by the library's own log records
and counts; nothing in a pipe."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from pgunify.progress import Activity

ROOT = Path(__file__).resolve().parents[1]


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_on_a_terminal_the_line_shows_what_the_library_says_and_counts() -> None:
    console, out = _terminal()
    with Activity(console, "migrating", delay=0) as activity:
        time.sleep(0.3)  # the line appears after the delay, from its timer
        logging.getLogger("pgunify.postgres").info("looking for PostgreSQL: %s", "embedded")
        time.sleep(0.3)
        shown_log = out.getvalue()
        activity.count(3, 7)
        time.sleep(0.3)
    assert "looking for PostgreSQL: embedded" in shown_log
    assert "migrating: 3/7 files" in out.getvalue()
    # the handler is gone afterwards: later records say nothing here
    before = out.getvalue()
    logging.getLogger("pgunify.postgres").info("after the run")
    assert out.getvalue() == before


def test_a_quick_run_draws_nothing() -> None:
    console, out = _terminal()
    with Activity(console, "scanning", delay=5) as activity:
        activity.say("fast")
    assert out.getvalue() == ""


def test_outside_a_terminal_nothing_is_drawn_and_logging_is_untouched() -> None:
    out = io.StringIO()
    logger = logging.getLogger("pgunify")
    handlers, level = list(logger.handlers), logger.level
    with Activity(Console(file=out, force_terminal=False), "verifying", delay=0) as activity:
        assert logger.handlers == handlers
        activity.say("pepgmp.AlertRepository.list")
        time.sleep(0.2)
    assert out.getvalue() == ""
    assert logger.level == level


def _stderr_of_scan(on_terminal: bool) -> str:
    env = dict(os.environ, UNIFY_PROGRESS_DELAY="0", COLUMNS="120")
    command = [sys.executable, "-m", "pgunify", "scan", str(ROOT / "examples" / "pepgmp"), "--fail-on", "never"]
    if not on_terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    assert process.wait(timeout=300) == 0
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_scan_on_a_terminal_has_a_status_line_and_in_a_pipe_none() -> None:
    assert "scanning" in _stderr_of_scan(on_terminal=True)
    assert "scanning" not in _stderr_of_scan(on_terminal=False)
