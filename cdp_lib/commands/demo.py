"""`cdp demo-data`: write a synthetic store, or the real CDNOW log, as files ready to ingest."""

from __future__ import annotations

import sys
import time

import click

DATASETS = ("synthetic", "cdnow", "cdnow-sample")


@click.command("demo-data")
@click.option("--profiles", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Number of people in the synthetic store (about 50 events each).")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Random seed: the same seed and end date give identical files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="data/demo",
              show_default=True, help="Folder for profiles.*, events.*, catalog.* (and truth.parquet).")
@click.option("--end-date", default=None, metavar="YYYY-MM-DD",
              help="Last day of the two-year history (default: today, UTC).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]), default="parquet",
              show_default=True, help="File format of the written tables.")
@click.option("--dataset", type=click.Choice(DATASETS), default="synthetic", show_default=True,
              help="synthetic store, or the real CDNOW purchase log (master or 1/10 sample).")
def demo_data(profiles: int, seed: int, out_dir: str, end_date: str | None, fmt: str,
              dataset: str) -> None:
    """Write demo data files to load with 'cdp ingest'."""
    from cdp_lib import demodata

    started = time.perf_counter()
    if dataset != "synthetic":
        paths = demodata.write_cdnow(out_dir, sample=dataset == "cdnow-sample", fmt=fmt)
        click.echo(f"wrote CDNOW ({dataset}) to {out_dir}: " + ", ".join(p.name for p in paths.values()))
        click.echo(f"next: cdp ingest profiles {paths['profiles']} && cdp ingest events {paths['events']}")
        return
    progress = None  # a callback(done, total) only when someone watches the terminal
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=profiles, unit="people", file=sys.stderr, leave=False)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)
    summary = demodata.generate_store(out_dir, profiles, seed=seed, end_date=end_date, fmt=fmt,
                                      progress=progress)
    if progress is not None:
        bar.close()
    seconds = time.perf_counter() - started
    click.echo(
        f"wrote a synthetic store to {summary.out_dir}: {summary.profiles:,} people "
        f"({summary.profile_rows:,} profile rows), {summary.events:,} events, "
        f"{summary.products:,} products, {summary.start:%Y-%m-%d} to "
        f"{summary.until:%Y-%m-%d %H:%M} UTC in {seconds:.1f} s"
    )
    files = summary.files
    click.echo(f"next: cdp ingest catalog {files['catalog']} && cdp ingest profiles "
               f"{files['profiles']} && cdp ingest events {files['events']}")


def register(group: click.Group) -> None:
    group.add_command(demo_data)
