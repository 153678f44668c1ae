"""One real callbackd for the whole test run.

``server()`` starts ``go run ./internal/testserver`` from the repository's
root the first time it is called (with ``-bin $CALLBACKD_TESTSERVER_BIN``
when that is set, so a Makefile can hand over a prebuilt binary), waits
for its JSON line and returns it; the server stops when this process
exits (its stdin closes). Tests that need no server never start one.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Optional

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent  # clients/python
REPO_ROOT = HERE.parent.parent.parent  # clients/python/tests -> ../../..

if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

STARTUP_TIMEOUT = float(os.environ.get("CALLBACKD_TESTSERVER_TIMEOUT", "180"))

_lock = threading.Lock()
_info: Optional[Dict[str, Any]] = None
_proc: Optional[subprocess.Popen] = None
_log: Optional[Any] = None
_failure: Optional[BaseException] = None


class TestServerError(RuntimeError):
    pass


def server() -> Dict[str, Any]:
    """The running test server: {"url", "admin_key", "numbers": {...}}.
    A failure to start is raised again to every later caller at once."""
    global _failure
    with _lock:
        if _info is not None:
            return _info
        if _failure is not None:
            raise TestServerError("the test server failed to start (see the first error): %s" % _failure)
        try:
            return _start()
        except BaseException as e:
            _failure = e
            raise


def _binary() -> Optional[str]:
    """$CALLBACKD_TESTSERVER_BIN, made absolute: relative to the current
    directory when it is there, else to the repository's root."""
    binary = os.environ.get("CALLBACKD_TESTSERVER_BIN")
    if not binary:
        return None
    if os.path.isabs(binary) or os.path.exists(binary):
        return os.path.abspath(binary)
    return str(REPO_ROOT / binary)


def _start() -> Dict[str, Any]:
    global _info, _proc, _log
    cmd = ["go", "run", "./internal/testserver"]
    binary = _binary()
    if binary:
        cmd += ["-bin", binary]
    _log = tempfile.TemporaryFile(prefix="callbackd-testserver-", suffix=".log")
    try:
        _proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=_log)
    except FileNotFoundError as e:
        raise TestServerError("cannot run %r (is Go installed?): %s" % (cmd[0], e)) from None
    atexit.register(_stop)

    line: Dict[str, Any] = {}

    def read() -> None:
        assert _proc is not None and _proc.stdout is not None
        line["text"] = _proc.stdout.readline()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT)
    text = line.get("text")
    if not text:
        code = None
        if not reader.is_alive():  # its stdout closed: it is exiting
            try:
                code = _proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _stop()
        why = "exited with status %s" % code if code is not None else "did not start within %.0fs" % STARTUP_TIMEOUT
        raise TestServerError("the test server (%s) %s; its log ends:\n%s" % (" ".join(cmd), why, _log_tail()))
    try:
        _info = json.loads(text)
    except ValueError:
        _stop()
        raise TestServerError("the test server printed %r, not its JSON line" % text[:200]) from None
    return _info


def _log_tail(n: int = 4000) -> str:
    if _log is None:
        return ""
    try:
        _log.seek(0, os.SEEK_END)
        size = _log.tell()
        _log.seek(max(0, size - n))
        return _log.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def server_log() -> str:
    """The end of the server's log, for a failing test's message."""
    return _log_tail()


def _stop() -> None:
    global _proc
    proc, _proc = _proc, None
    if proc is None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()  # the test server stops when its stdin closes
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        if proc.stdout:
            proc.stdout.close()
