"""Shared CLI plumbing: the context object carrying global options."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cdp_lib.errors import InputError
from cdp_lib.project import resolve_path

if TYPE_CHECKING:
    from cdp_lib.workspace import Workspace

ENGINES = ("duckdb", "spark")


class Context:
    """Carries the global options to subcommands and opens the workspace on demand.

    `engine` 'duckdb' opens the `db` file; 'spark' opens a Spark session over the `lake` folder
    (on `spark_master`, else $SPARK_MASTER, else local[*]).
    """

    def __init__(self, db: str, engine: str = "duckdb", lake: str | None = None, spark_master: str | None = None):
        # Absolute from here on: snapshots, runs and apps all refer to the same file.
        self.db = str(resolve_path(db))
        self.engine = engine
        self.lake = lake
        self.spark_master = spark_master
        self._ws: Workspace | None = None

    def workspace(self, read_only: bool = False) -> Workspace:
        if self._ws is None:
            from cdp_lib.workspace import Workspace

            self.check_engine()
            if self.engine == "spark":
                self._ws = Workspace.from_spark(self.lake, master=self.spark_master)
            else:
                self._ws = Workspace(self.db, read_only=read_only)
        return self._ws

    def check_engine(self) -> None:
        """Refuse an engine without its storage before anything is computed."""
        if self.engine == "spark" and not self.lake:
            raise InputError("--engine spark reads a lake folder: give --lake DIR (env CDP_LAKE); "
                             "write one with 'cdp export lake DIR'")
        if self.engine == "duckdb" and self.lake:
            raise InputError(f"--lake {self.lake} is read by --engine spark; add --engine spark (env CDP_ENGINE) "
                             "or drop --lake to use the DuckDB workspace")

    def duckdb_workspace(self, read_only: bool = False) -> Workspace:
        """The DuckDB workspace file whatever the engine (commands that read or write it directly)."""
        if self.engine == "duckdb":
            return self.workspace(read_only)
        from cdp_lib.workspace import Workspace

        return Workspace(self.db, read_only=read_only)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None


pass_context = click.make_pass_decorator(Context)


def old_flag(old: str, new: str, dest: str, **kwargs):
    """A hidden option `old` kept for scripts written before it was renamed `new`; pass its value
    (`dest`) with the new one to `renamed_flag`. Extra keywords (e.g. `type`) as for click.option."""
    return click.option(old, dest, default=None, hidden=True, help=f"Old name of {new}.", **kwargs)


def renamed_flag(new_value, old_value, new: str, old: str, default=None):
    """The value of flag `new`, else of its old spelling `old` (with a warning on stderr naming the
    new flag), else `default`; both given is an `InputError`."""
    if old_value is None:
        return default if new_value is None else new_value
    if new_value is not None:
        raise InputError(f"{old} and {new} are the same option; keep only {new}")
    click.echo(f"warning: {old} is now {new}; the old flag still works for now", err=True)
    return old_value
