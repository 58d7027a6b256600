"""Terminal output: a progress bar while models load and lines generate, and ranked tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ripple.generate import CommentaryRun

SHOWN_CANDIDATES = 5  # rows per moment on the terminal; commentary.md has them all


@contextmanager
def progress_bar(console: Console) -> Iterator:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield update


def print_run(console: Console, run: CommentaryRun) -> None:
    for i, result in enumerate(run.results, start=1):
        m = result.moment
        when = f" {m.clock()}" if m.time is not None else ""
        names = list(result.ranked[0].scores) if result.ranked else []
        table = Table(
            title=f"{i}.{when} {m.game} — {result.template}",
            caption=f"line: {result.line or '(none)'}" + (f"\n⚠ {result.note}" if result.note else ""),
            caption_justify="left",
            show_lines=False,
        )
        table.add_column("#", justify="right")
        table.add_column("total", justify="right")
        for name in names:
            table.add_column(name, justify="right")
        table.add_column("candidate", ratio=1)
        for position, r in enumerate(result.ranked[:SHOWN_CANDIDATES], start=1):
            style = "bold green" if position == 1 and not r.faults else "dim" if r.faults else None
            text = (r.text or "(empty)") + (f"  ✗ {'; '.join(r.faults)}" if r.faults else "")
            table.add_row(str(position), f"{r.total:.2f}", *(f"{r.scores[n].value:.2f}" for n in names), text,
                          style=style)
        console.print(table)
