"""`cdp run` and `cdp params`: report runs of parameterized notebooks."""

from __future__ import annotations

import json

import click

from cdp_lib.commands._base import Context, pass_context

# The library's default (`cdp_lib.reports.REPORTS_DIR`), spelled here so that building the option
# does not import the runner at start-up; tests/test_cli_startup.py checks the two agree.
REPORTS_DIR = "reports"


class NotebookFailed(click.ClickException):
    """A notebook raised while running; exit code 1 (input errors are 2)."""

    exit_code = 1


@click.command()
@click.argument("notebook")
@click.option("-f", "--parameters-file", type=click.Path(dir_okay=False), help="YAML file of parameter values.")
@click.option(
    "-p",
    "--parameter",
    "params",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="Set one parameter (repeatable); converted to the type declared in the notebook.",
)
@click.option("--reports-dir", default=REPORTS_DIR, show_default=True, help="Where run folders go.")
@click.option("--run-id", hidden=True, help="Use this run id (the scheduler picks ids itself).")
@click.option("--job", hidden=True, help="Scheduler job name recorded in run.json.")
@click.option("--log-output", is_flag=True, help="Stream the notebook's output to the terminal.")
@pass_context
def run(ctx: Context, notebook, parameters_file, params, reports_dir, run_id, job, log_output) -> None:
    """Execute NOTEBOOK (a path or a name under notebooks/) into REPORTS_DIR/<notebook>/<run-id>/.

    Parameters are checked against the notebook's parameters cell before anything runs. The
    notebook's `db` parameter defaults to the global --db. Exit code 1 when the notebook fails
    (the run folder still holds the executed notebook and its HTML), 2 for bad input.
    """
    from cdp_lib import reports

    result = reports.run_notebook(
        notebook,
        parameters_file=parameters_file,
        text_parameters=dict(params),
        reports_dir=reports_dir,
        run_id=run_id,
        default_db=ctx.db,
        log_output=log_output,
        extra={"job": job} if job else None,
    )
    where = result.html if result.record.get("html") else result.run_dir
    if result.succeeded:
        click.echo(f"succeeded in {result.record['duration_seconds']:.1f} s: {where}")
        return
    raise NotebookFailed(f"run failed: {result.error}\nreport: {where}")


@click.command()
@click.argument("notebook")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def params(notebook, as_json) -> None:
    """List NOTEBOOK's parameters: name, type, default and help, from its parameters cell."""
    from cdp_lib import reports

    path = reports.find_notebook(notebook)
    declared = reports.read_parameters(path)
    if as_json:
        rows = [
            {"name": p.name, "type": p.type, "default": p.default, "required": p.required, "help": p.help}
            for p in declared
        ]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    import pandas as pd

    from cdp_lib.commands._output import TERMINAL_WIDTH
    from cdp_lib.display.table import text_table

    rows = [
        (p.name, p.type, "(required)" if p.required else repr(p.default), p.help)
        for p in declared
    ]
    click.echo(f"{path}")
    frame = pd.DataFrame(rows, columns=["name", "type", "default", "help"])
    click.echo(text_table(frame, max_width=TERMINAL_WIDTH))


def register(group: click.Group) -> None:
    group.add_command(run)
    group.add_command(params)
