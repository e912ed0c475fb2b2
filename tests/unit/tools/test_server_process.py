"""Stopping a server leaves none of its processes running into the next measurement."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil

from tools.server_process import CHILDREN_GRACE_S, ServerProcess, free_port

# A main process whose child ignores SIGTERM, as LitServe's inference workers behave.
STUBBORN_CHILD = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(600)'])\n"
    "time.sleep(600)\n"
)


def test_stop_kills_children_that_outlive_the_main_process(tmp_path: Path) -> None:
    server = ServerProcess([sys.executable, "-c", STUBBORN_CHILD], free_port(), tmp_path / "log")
    server.start(wait=False)
    deadline = time.monotonic() + 10
    while "1" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # the child is up and ignores SIGTERM from here on
    tree = server.processes()
    assert len(tree) == 2
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < CHILDREN_GRACE_S + 5
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
