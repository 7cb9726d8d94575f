"""Shared CLI plumbing: the context object carrying global options."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cdp_lib.workspace import Workspace


class Context:
    """Carries the global options to subcommands and opens the workspace on demand."""

    def __init__(self, db: str):
        self.db = db
        self._ws: Workspace | None = None

    def workspace(self, read_only: bool = False) -> Workspace:
        if self._ws is None:
            from cdp_lib.workspace import Workspace

            self._ws = Workspace(self.db, read_only=read_only)
        return self._ws

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()


pass_context = click.make_pass_decorator(Context)
