"""The `cdp` command: maps options onto library functions and nothing more.

Subcommands live in `cdp_lib/commands/<noun>.py`; each module defines `register(group)` and is
picked up here, so adding a command never touches this file. User errors (`CdpError`) become
one line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

import click

from cdp_lib import commands
from cdp_lib.errors import CdpError, DeprecatedSpellingWarning
from cdp_lib.commands._base import ENGINES, Context
from cdp_lib.workspace import DEFAULT_PATH




@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--db",
    default=DEFAULT_PATH,
    show_default=True,
    envvar="CDP_DB",
    help="Workspace database file (env CDP_DB).",
)
@click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True, envvar="CDP_ENGINE",
              help="Where analyses run: the DuckDB file, or Spark over a lake folder (env CDP_ENGINE).")
@click.option("--lake", metavar="DIR", envvar="CDP_LAKE",
              help="Lake folder written by 'cdp export lake', read by --engine spark (env CDP_LAKE).")
@click.option("--spark-master", "spark_master", metavar="URL", envvar="SPARK_MASTER",
              help="Spark master for --engine spark, e.g. local[4] or spark://host:7077 (env SPARK_MASTER). "
                   "Default: the session spark-submit configured, else local[*].")
@click.option("--memory-limit", "memory_limit", metavar="SIZE", envvar="CDP_MEMORY_LIMIT",
              help="Most memory DuckDB may use before it spills to disk, e.g. 6GB or 40% of RAM "
                   "(env CDP_MEMORY_LIMIT). Default: 25% of this machine's RAM.")
@click.option("--temp-dir", "temp_dir", metavar="DIR", envvar="CDP_TEMP_DIR",
              help="Folder DuckDB spills to past the memory limit (env CDP_TEMP_DIR). "
                   "Default: <workspace file>.tmp.")
@click.version_option(package_name="cdp-workbench")
@click.pass_context
def cli(ctx: click.Context, db: str, engine: str, lake: str | None, spark_master: str | None,
        memory_limit: str | None = None, temp_dir: str | None = None) -> None:
    """Customer-data intelligence workbench: ingest, RFM, CLV, segments, funnels, cohorts."""
    _memory_settings(memory_limit, temp_dir)
    ctx.obj = Context(db, engine=engine, lake=lake, spark_master=spark_master)
    ctx.call_on_close(ctx.obj.close)


def _memory_settings(memory_limit: str | None, temp_dir: str | None) -> None:
    """Check the memory options before any command runs and hand them on as the environment
    variables every workspace of this run reads (report kernels and apps started by it too)."""
    import os

    from cdp_lib import memory

    if memory_limit:
        os.environ[memory.MEMORY_ENV] = memory_limit
    if temp_dir:
        os.environ[memory.TEMP_DIR_ENV] = temp_dir
    memory.check()


def _register_commands() -> None:
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{module.name}")
        mod.register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 2; an old spelling one `warning:` line."""
    with warnings.catch_warnings():  # restores the warning machinery when the command ends
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, DeprecatedSpellingWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", DeprecatedSpellingWarning)  # each old spelling, every time
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of raising SystemExit.
        code = cli.main(args=argv, prog_name="cdp", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except CdpError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        message = _io_fault(exc)
        if message is None:  # anything else is a bug and keeps its traceback
            raise
        click.echo(f"error: {message}", err=True)
        return 2
    return code if isinstance(code, int) else 0


def _io_fault(exc: Exception) -> str | None:
    """One line for a disk or file fault met outside ingest (which reports its own), else None."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = text.lower()
    if isinstance(exc, OSError) and exc.errno == 28 or "no space left" in low:
        return f"the disk is full ({text}); free some space (df -h) and run the command again"
    if type(exc).__name__ == "OutOfMemoryException":  # DuckDB past its limit where it cannot spill
        from cdp_lib import memory

        limit = memory.memory_limit_bytes() / 1e9
        return (f"DuckDB ran out of memory under its {limit:.1f} GB limit ({text}); raise the limit "
                "(--memory-limit or CDP_MEMORY_LIMIT, e.g. 50%) or stop other jobs, then run the command again")
    if type(exc).__name__ == "IOException" or isinstance(exc, OSError):
        return f"I/O error ({text}); check the disk and the paths given, then run the command again"
    return None


if __name__ == "__main__":
    sys.exit(main())
