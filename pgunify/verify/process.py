"""The parent's handle on one side's process: JSON lines in, JSON lines out, death noticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pgunify.dsn import redact_text

# The variable that hands a side its database URL. A command line is visible to every user of
# the machine (ps, /proc/PID/cmdline); a process's environment only to its owner and root.
URL_VARIABLE = "UNIFY_VERIFY_WORKER_URL"


class SideDied(RuntimeError):
    """The process of one side exited while it was answering (the code under test crashed)."""

    def __init__(self, side: str, returncode: int | None, tail: str) -> None:
        self.side, self.returncode, self.tail = side, returncode, tail
        super().__init__(f"the {side} side's process exited (code {returncode}){': ' + tail if tail else ''}")


class SideFailed(RuntimeError):
    """A request the harness itself needed (schema, describe) failed on one side."""


SEED = "="  # a side's answer for "the state is the seed state"


class SideProcess:
    def __init__(self, side: str, plan_file: Path, root: Path, dsn: str, log_file: Path) -> None:
        self.side = side
        self.log_file = log_file
        env = dict(os.environ)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # never leave __pycache__ in the user's tree
        env.pop("PYTHONSTARTUP", None)
        env[URL_VARIABLE] = dsn  # never on the command line
        self._log = log_file.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgunify.verify.worker", str(plan_file), str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, cwd=str(root), env=env,
            start_new_session=True,  # Ctrl-C reaches the parent only; it stops the sides in order
        )
        self._ready = False
        self.seed_text: str | None = None  # the side's seed state as JSON text, from its last "prepare"

    def wait_ready(self) -> None:
        if not self._ready:
            self._read()
            self._ready = True

    def send(self, request: dict) -> None:
        self.wait_ready()
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # noticed on read

    def receive(self) -> dict:
        return self._read()

    def request(self, request: dict) -> dict:
        self.send(request)
        answer = self.receive()
        if "failed" in answer:
            from pgunify.verify.codec import render

            raise SideFailed(f"{self.side} side, {request['op']}: {render(answer['failed'])}")
        return answer

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=30)
            raise SideDied(self.side, code, self.tail())
        answer = json.loads(line)
        if "seed_text" in answer:
            self.seed_text = answer.pop("seed_text")
        if answer.get("state") == SEED:  # the state is the seed's: sent once, not after every call
            answer["state"] = self.seed_text
        return answer

    def tail(self, lines: int = 6) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
        return redact_text(" | ".join(line.strip() for line in kept))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"op": "close"})
                self.proc.stdin.close()
                self.proc.wait(timeout=15)
            except Exception:
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._log.close()


def both(old: SideProcess, new: SideProcess, request: dict) -> tuple[Any, Any]:
    """Send the same request to both sides, then read both answers (they work in parallel).

    A side that dies yields a ["crash", ...] answer instead of raising."""
    old.send(request)
    new.send(request)
    answers = []
    for side in (old, new):
        try:
            answers.append(side.receive())
        except SideDied as exc:
            answers.append({"died": exc})
    return answers[0], answers[1]
