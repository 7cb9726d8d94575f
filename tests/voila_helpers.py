"""Voila for browser tests: one server per test module, pages opened as a person would."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from cdp_lib.apps.serve import voila_command, voila_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def voila_server(db: Path, folder: Path, project: Path | None = None, start_timeout: float = 90) -> Iterator[str]:
    """Voila over the apps on workspace `db`, started in `folder` (its log `folder/voila.log`);
    `project` becomes the kernels' `CDP_PROJECT_DIR`. Yields the base URL; stops the whole process
    group afterwards."""
    port = free_port()
    log_path = Path(folder) / "voila.log"
    env = voila_env(db) if project is None else {**voila_env(db), "CDP_PROJECT_DIR": str(project)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(voila_command(None, port=port), env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=folder)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGTERM)
                    pytest.fail(f"voila did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.5)
        try:
            yield base
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def page_opener(browser, base: str, viewport: dict, load_ms: int,
                after_load: Callable = lambda page: None) -> Iterator[Callable]:
    """`open(name, ready)`: a new page on app `name`, loaded once `ready` shows, then checked by
    `after_load` (Voila answers 200 even when a cell fails); pages are closed afterwards."""
    pages = []

    def _open(name: str, ready: str):
        page = browser.new_page(viewport=viewport)
        pages.append(page)
        response = page.goto(f"{base}/voila/render/{name}.ipynb", timeout=load_ms)
        assert response.status == 200
        page.wait_for_selector(ready, timeout=load_ms)
        after_load(page)
        return page

    try:
        yield _open
    finally:
        for p in pages:
            p.close()
