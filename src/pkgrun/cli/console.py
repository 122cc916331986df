"""Everything pkgrun shows a person: the only module that imports rich.

``Console`` wraps a standard-output and a standard-error console (the results go to standard
output, progress and errors to standard error, so that `--json` output stays clean), and each
command's results have one function here. rich is imported when something is drawn, not when
pkgrun starts. ``RichReporter`` is the Reporter core code reports through: a live view with
elapsed times on a terminal, plain lines elsewhere (CI, logs).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pkgrun.errors import CommandFailed, PkgrunError, ProblemsError
from pkgrun.report import Advance

if TYPE_CHECKING:
    import rich.console

    from pkgrun.build.plan import BuildPlan
    from pkgrun.pipeline.outcome import Outcome, RunResult
    from pkgrun.pipeline.rebuild import Verdict
    from pkgrun.recipe.model import LoadedRecipe
    from pkgrun.repo.data import PublishedPackage
    from pkgrun.repo.publish import PublishResult
    from pkgrun.targets import Target

COLOURS = {"built": "green", "skipped": "dim", "failed": "red", "blocked": "yellow", "identical": "cyan"}


# what a table may take where the output is no terminal (a log, a pipe): its natural width,
# never cut to rich's 80 columns
UNLIMITED = 10_000


def _rich(stderr: bool) -> rich.console.Console:
    """rich's console for stdout or stderr: a terminal's width, else unlimited (COLUMNS wins)."""
    from rich.console import Console as Rich

    console = Rich(stderr=stderr, highlight=False, soft_wrap=True)
    if not _a_terminal(sys.stderr if stderr else sys.stdout) and "COLUMNS" not in os.environ:
        console.width = UNLIMITED  # whatever FORCE_COLOR or TTY_COMPATIBLE make rich believe
    return console


def _a_terminal(stream: object) -> bool:
    try:
        return os.isatty(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


class Console:
    def __init__(self) -> None:
        self._out: rich.console.Console | None = None
        self._err: rich.console.Console | None = None

    @property
    def out(self) -> rich.console.Console:
        if self._out is None:
            self._out = _rich(stderr=False)
        return self._out

    @property
    def err(self) -> rich.console.Console:
        if self._err is None:
            self._err = _rich(stderr=True)
        return self._err

    def reporter(self) -> RichReporter:
        return RichReporter(self.err)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")

    def line(self, text: str, style: str | None = None) -> None:
        from rich.text import Text

        self.out.print(Text(text, style=style or ""))

    def raw(self, text: str) -> None:
        """Text for a pipe or a file (a document), as it is."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def note(self, text: str) -> None:
        """Something pkgrun decided for the user, said once."""
        from rich.text import Text

        self.err.print(Text.assemble(("note: ", "bold cyan"), text))

    def warning(self, text: str) -> None:
        from rich.text import Text

        self.err.print(Text.assemble(("warning: ", "bold yellow"), text))

    # --- errors -----------------------------------------------------------------------------------

    def error(self, exc: PkgrunError) -> None:
        from rich.text import Text

        if isinstance(exc, ProblemsError):
            for problem in exc.problems:
                self.err.print(Text.assemble(("error: ", "bold red"), str(problem)))
                if problem.hint:
                    self.err.print(Text.assemble(("  hint: ", "yellow"), problem.hint))
        self.err.print(Text.assemble(("error: ", "bold red"), exc.message))
        if isinstance(exc, CommandFailed) and exc.output.strip():
            self.err.print(Text("  its last lines:", style="yellow"))
            for line in exc.output.strip().splitlines()[-10:]:
                self.err.print(Text(f"    {line}"))
        if exc.hint:
            self.err.print(Text.assemble(("  hint: ", "yellow"), exc.hint))

    def internal_error(self, exc: BaseException) -> None:
        from rich.text import Text

        self.err.print(Text.assemble(("internal error: ", "bold red"), f"{type(exc).__name__}: {exc}"))
        self.err.print(Text.assemble(("  hint: ", "yellow"), "run again with --debug for the traceback"))

    def interrupted(self) -> None:
        self.err.print("interrupted")

    def build_failure(self, outcome: Outcome) -> None:
        """A failed build: the error, the failing step's output or the log's tail, the log."""
        from rich.text import Text

        from pkgrun.install.install_test import InstallTestFailed

        exc = outcome.exception
        self.err.print(Text.assemble(("error: ", "bold red"), f"{outcome.recipe}: {outcome.error}"))
        if isinstance(exc, InstallTestFailed):
            self.err.print(Text(f"  step: {exc.step}", style="yellow"))
            self.err.print(Text("  output:", style="yellow"))
            for line in exc.output.splitlines()[-20:]:
                self.err.print(Text(f"    {line}"))
        elif isinstance(exc, CommandFailed) and exc.output:
            self.err.print(Text(f"  last lines of {outcome.log}:", style="yellow"))
            for line in exc.output.splitlines()[-15:]:
                self.err.print(Text(f"    {line}"))
        if exc is not None and exc.hint:
            self.err.print(Text.assemble(("  hint: ", "yellow"), exc.hint))
        if outcome.log is not None:
            self.err.print(Text(f"  full log: {outcome.log}", style="yellow"))

    # --- recipes ----------------------------------------------------------------------------------

    def recipes(
        self, loaded: Sequence[LoadedRecipe], target: Target, recipes_dir: Path, published: Mapping[str, str]
    ) -> None:
        from rich.table import Table

        table = Table(
            title=f"recipes in {recipes_dir} (dependencies for {target.name})",
            caption="(+N): N more versions with a checksum; `pkgrun list --json` lists them",
        )
        for column in ("name", "version", "iteration", f"published ({target.name})", "source"):
            table.add_column(column, no_wrap=True)
        table.add_column("dependencies", ratio=1, min_width=24)
        table.add_column("needs to build", min_width=8)
        for item in loaded:
            recipe = item.recipe
            pkg, src = recipe.package, recipe.source
            default = recipe.default_version(target)
            others = len(src.sha256) - 1
            version = default + (f" (+{others})" if others else "")
            url = src.url_for(pkg.name, default)
            origin = f"PyPI {src.pypi}" if url is None else urlsplit(url).netloc
            requires = " ".join(recipe.requires_for(target)) or "-"
            needs = " ".join(recipe.build.recipes) or "-"
            newest = published.get(pkg.name, "-")
            table.add_row(pkg.name, version, pkg.iteration, newest, origin, requires, needs)
        self.out.print(table)

    def checked(self, loaded: Sequence[LoadedRecipe]) -> None:
        from rich.text import Text

        for item in loaded:
            self.out.print(Text.assemble(("ok ", "green"), f"{item.name} ({item.file})"))
            for warning in item.warnings:
                self.out.print(
                    Text.assemble(("  warning: ", "yellow"), f"{warning.field}: {warning.message}")
                )
        self.out.print(f"{len(loaded)} recipe{'s' if len(loaded) != 1 else ''} valid")

    def plan(
        self,
        plan: BuildPlan,
        builds_first: Sequence[str],
        nightly: Mapping[str, str],
        release: str | None = None,
    ) -> None:
        from rich.text import Text

        target = plan.target
        out = self.out
        out.print(Text(f"{plan.nevra} for {target.name} ({target.description})", style="bold"))
        rows = [
            ("recipe", str(plan.loaded.file)),
            ("source", plan.source.url or f"PyPI project {plan.source.pypi} ({plan.source.filename})"),
            ("sha256", plan.source.sha256),
            ("packager", f"{plan.packager} (the {target.name} target's)"),
            (
                "image",
                f"{target.from_image} + build requirements ({target.family.value}): "
                + (" ".join(plan.build_requires) or "none"),
            ),
            ("requires", ", ".join(plan.requires) or "none"),
            ("build env", " ".join(f"{k}={shlex.quote(v)}" for k, v in plan.build_env.items())),
            ("rpm", str(plan.rpm)),
        ]
        if builds_first:
            rows.insert(5, ("needs", "; ".join(builds_first)))
        if release:
            rows.insert(1, ("release", release))
        for key, value in rows:
            out.print(Text.assemble((f"  {key:<10}", "cyan"), value))
        out.print(Text("steps", style="bold"))
        for number, step in enumerate(plan.steps, 1):
            out.print(Text(f"  {number}. [{step.name}] {step.text}"))
        if plan.fpm_argv:
            out.print(Text("fpm command", style="bold"))
            out.print(Text(f"  {shlex.join(plan.fpm_argv)}"))
        if plan.nfpm_config:
            out.print(
                Text("nfpm configuration (the staged files and scripts are added by the build)", style="bold")
            )
            for line in json.dumps(plan.nfpm_config, indent=2).splitlines():
                out.print(Text(f"  {line}"))
        for key, words in (("nightly job", nightly.get("nightly")), ("compile", nightly.get("compile"))):
            if words is not None:
                out.print(Text.assemble((f"{key:<13}", "bold"), words))

    # --- builds -----------------------------------------------------------------------------------

    def built(self, run: RunResult) -> None:
        from rich.table import Table
        from rich.text import Text

        from pkgrun.build.lint import grouped

        results = run.built
        if results:
            table = Table(title="built")
            for column in ("NEVRA", "size", "files", "time"):
                table.add_column(column, no_wrap=True)
            table.add_column("requires", min_width=20, ratio=1)
            for r in results:
                requires = " ".join(r.info.requires) or "-"
                table.add_row(
                    r.info.nevra, size(r.info.size), str(len(r.info.files)), f"{r.seconds:.0f}s", requires
                )
            self.out.print(table)
        for r in results:
            if r.lint is not None:
                self.out.print(Text(f"rpmlint {r.info.nevra}: {r.lint.summary()}", style="bold"))
                for line in grouped(r.lint.findings):
                    self.out.print(Text(f"  {line}", style="dim"))
            if r.install_test is not None:
                test = r.install_test
                upgraded = f", upgraded from {test.upgraded_from}" if test.upgraded_from else ""
                self.out.print(f"install test {r.info.nevra}: {len(test.steps)} steps passed{upgraded}")
        for o in run.outcomes:
            if o.status.value in ("skipped", "identical"):
                self.out.print(Text(f"{o.recipe}: {o.reason}", style="dim"))
        for r in results:
            self.out.print(str(r.rpm))
        for o in run.outcomes:
            for item in o.published:
                self.out.print(f"published {item.nevra}: {item.path} ({item.action})")

    def nightly(self, run: RunResult, report: Path) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"nightly: {run.seconds:.1f} s")
        several = len(run.hosts) > 1
        for column in ("status", "recipe", "target", *(["host"] if several else []), "package", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("why", ratio=1, min_width=20)
        for o in run.outcomes:
            why = (o.error or o.reason) + (f"; rebuilt to check: {o.verified}" if o.verified else "")
            why += "".join(f"; {retry}" for retry in o.retried)
            table.add_row(
                Text(o.status.value, style=COLOURS[o.status.value]),
                o.recipe,
                o.target,
                *([o.host or ""] if several else []),
                o.nevra or "",
                f"{o.seconds:.1f}s",
                why,
            )
        self.out.print(table)
        if several:
            for h in run.hosts:
                state = f"down ({h.down})" if h.down else f"{h.builds} builds, busy {h.busy:.1f} s"
                self.out.print(f"host {h.name} ({h.engine or 'not reached'}): {state}")
        self.out.print(f"report: {report}")

    def rebuilt(self, verdicts: Sequence[Verdict]) -> None:
        from rich.text import Text

        for v in verdicts:
            style = "green" if v.identical else "bold red"
            self.out.print(Text.assemble((f"{v.published.name}: ", "bold"), (v.summary(), style)))
            self.out.print(Text(f"  rebuilt in {v.seconds:.0f}s: {v.rebuilt}", style="dim"))
            if v.unlike_recorded:
                self.out.print(Text(f"  today's inputs: {', '.join(v.unlike_recorded)}", style="dim"))

    # --- the repository ---------------------------------------------------------------------------

    def published(self, result: PublishResult) -> None:
        for item in result.published:
            self.out.print(f"{item.action} {item.nevra}: {item.path}")
        for path in result.pruned:
            self.out.print(f"pruned {path}")
        for path in result.signed:
            self.out.print(f"signed {path} (published by pkgrun before, its content unchanged)")

    def repository(self, rows: Sequence[PublishedPackage], repo: Path) -> None:
        from rich.table import Table

        if not rows:
            self.out.print(f"nothing published in {repo}")
            return
        table = Table(title=f"published in {repo}")
        for column in ("dist", "NEVRA", "size", "published", "build time (the source's date)"):
            table.add_column(column, no_wrap=True)
        for row in rows:
            published = row.published.strftime("%Y-%m-%d %H:%M") if row.published else "-"
            table.add_row(
                row.dist, row.nevra, size(row.size), published, row.built.strftime("%Y-%m-%d %H:%M")
            )
        self.out.print(table)


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class RichReporter:
    """Steps with their elapsed time: a live view on a terminal, plain lines elsewhere (CI, logs)."""

    def __init__(self, console: rich.console.Console) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.live = console.is_terminal
        self.bars = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            _download_only(BarColumn(bar_width=20)),
            _download_only(DownloadColumn()),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> RichReporter:
        if self.live:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.bars.stop()

    @contextmanager
    def step(self, recipe: str, name: str) -> Iterator[None]:
        label = f"{recipe}: {name}"
        started = time.monotonic()
        task = self.bars.add_task(label, total=None) if self.live else None
        if not self.live:
            self.console.print(f"{label} ...")
        try:
            yield
        except BaseException:
            if task is not None:
                self.bars.update(task, description=f"[red]{label} (failed)")
                self.bars.stop_task(task)
            else:
                self.console.print(f"{label}: failed after {time.monotonic() - started:.1f}s")
            raise
        if task is not None:
            self.bars.update(task, total=1, completed=1)
            self.bars.stop_task(task)
        else:
            self.console.print(f"{label}: done in {time.monotonic() - started:.1f}s")

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        if not self.live:
            return lambda n: None
        task = self.bars.add_task(f"{recipe}: {name}", total=total, download=True)
        return lambda n: self.bars.advance(task, n)

    def note(self, recipe: str, message: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"{recipe}: {message}", style="dim"))


def _download_only(inner: Any) -> Any:
    """A column shown for downloads only: a step has no bytes to count."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class DownloadOnly(ProgressColumn):
        def render(self, task: Any) -> Any:
            return inner.render(task) if task.fields.get("download") else Text("")

    return DownloadOnly()
