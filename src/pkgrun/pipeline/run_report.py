"""A nightly run's report folder: report.json for machines, report.html for a person (status,
durations, sizes, built or skipped and why, each build's log one click away), junit.xml for CI
dashboards, and the logs. The newest N folders are kept; ``latest`` links the newest.

report.html links the previous kept runs and draws, per recipe, its build time (of the builds
that compiled) and RPM size over them as two small inline SVG charts (drawn here: no script,
nothing fetched), the newest point red when it is more than a fifth above the median of the
runs before it: a recipe that got slower or bigger stands out.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path
from xml.etree import ElementTree

from pkgrun import __version__
from pkgrun.pipeline.outcome import Outcome, RunResult, Status

_COLOURS = {
    Status.BUILT: "#1a7f37",
    Status.SKIPPED: "#57606a",
    Status.FAILED: "#cf222e",
    Status.BLOCKED: "#9a6700",
    Status.IDENTICAL: "#0969da",
}


def write_report(run: RunResult, reports: Path, keep: int) -> Path:
    """Write the run's folder under ``reports``, link it as ``latest``, prune old ones."""
    stamp = run.started.strftime("%Y%m%d-%H%M%S")
    folder = reports / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = reports / f"{stamp}-{n}"
    (folder / "logs").mkdir(parents=True)
    for outcome in run.outcomes:
        if outcome.log is not None and outcome.log.is_file():
            shutil.copyfile(outcome.log, folder / "logs" / _log_name(outcome))
    (folder / "report.json").write_text(json.dumps(report_json(run), indent=2))
    ElementTree.ElementTree(junit_xml(run)).write(
        folder / "junit.xml", encoding="utf-8", xml_declaration=True
    )
    _prune(reports, keep, folder)
    (folder / "report.html").write_text(report_html(run, read_history(reports, exclude=folder)))
    _link_latest(reports, folder)
    return folder


# a kept run: its folder's name, and per (target, recipe) its build's seconds and RPM size (each
# None when the run did not build it)
Run = tuple[str, dict[tuple[str, str], tuple[float | None, int | None]]]
_MEASURED = ("built", "identical")


def read_history(reports: Path, exclude: Path, limit: int = 30) -> list[Run]:
    """The kept runs before this one, oldest first, as their report.json says (an unreadable
    one is left out)."""
    runs: list[Run] = []
    folders = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink() and p != exclude)
    for folder in folders[-limit:]:
        try:
            data = json.loads((folder / "report.json").read_text())
            builds = {
                (str(b["target"]), str(b["recipe"])): (
                    float(b["seconds"]) if _compiled(b.get("status"), str(b.get("reason"))) else None,
                    int(b["size"]) if b.get("status") in _MEASURED and b.get("size") is not None else None,
                )
                for b in data["builds"]
            }
        except (OSError, ValueError, KeyError, TypeError):
            continue
        runs.append((folder.name, builds))
    return runs


def _compiled(status: object, reason: str) -> bool:
    """Whether a build's time is a compile's: a build that reused a kept compile only packaged."""
    return status in _MEASURED and "compile reused" not in reason


def sparkline(values: list[float | None], unit: str, what: str) -> str:
    """A small SVG line chart of ``values`` (None: not measured that run), oldest first; the
    newest point is red when it is more than a fifth above the median of those before it."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return ""
    width, height, pad = 96, 22, 3
    top = max(v for _, v in points) or 1.0
    step = (width - 2 * pad) / max(1, len(values) - 1)

    def xy(i: int, v: float) -> str:
        return f"{pad + i * step:.1f},{height - pad - (height - 2 * pad) * v / top:.1f}"

    line = " ".join(xy(i, v) for i, v in points)
    earlier = sorted(v for _, v in points[:-1])
    median = earlier[len(earlier) // 2]
    last_i, last = points[-1]
    grew = last > 1.2 * median
    colour = "#cf222e" if grew else "#0969da"
    said = ", ".join(_amount(v, unit) for _, v in points)
    x, y = xy(last_i, last).split(",")
    return (
        f'<svg class="spark{" grew" if grew else ""}" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(what)}: {said}"><title>{html.escape(what)}, oldest first: {said}</title>'
        f'<polyline fill="none" stroke="#8c959f" stroke-width="1.5" points="{line}"/>'
        f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/></svg>'
    )


def _amount(value: float, unit: str) -> str:
    return f"{value:.0f} s" if unit == "s" else _size(int(value))


def _log_name(outcome: Outcome) -> str:
    return f"{outcome.recipe}-{outcome.target}.log"


def report_json(run: RunResult) -> dict[str, object]:
    counts = {status.value: sum(o.status is status for o in run.outcomes) for status in Status}
    return {
        "pkgrun": __version__,
        "started": run.started.isoformat(timespec="seconds"),
        "seconds": round(run.seconds, 2),
        "exit_code": run.exit_code,
        "counts": counts,
        "builds": [
            {**o.to_json(), "log": f"logs/{_log_name(o)}" if o.log is not None else None}
            for o in run.outcomes
        ],
        "hosts": [h.to_json() for h in run.hosts],
    }


def junit_xml(run: RunResult) -> ElementTree.Element:
    suite = ElementTree.Element(
        "testsuite",
        name="pkgrun nightly",
        tests=str(len(run.outcomes)),
        failures=str(sum(o.status is Status.FAILED for o in run.outcomes)),
        errors=str(sum(o.status is Status.BLOCKED for o in run.outcomes)),
        skipped=str(sum(o.status is Status.SKIPPED for o in run.outcomes)),
        time=f"{run.seconds:.2f}",
        timestamp=run.started.isoformat(timespec="seconds"),
    )
    for o in run.outcomes:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"pkgrun.{o.target}",
            name=f"{o.recipe} {o.version}",
            time=f"{o.seconds:.2f}",
        )
        if o.status is Status.FAILED:
            failure = ElementTree.SubElement(case, "failure", message=o.error or "failed")
            failure.text = o.log_tail or ""
        elif o.status is Status.BLOCKED:
            ElementTree.SubElement(case, "error", message=o.reason)
        elif o.status is Status.SKIPPED:
            verified = f" (rebuilt to check: {o.verified})" if o.verified else ""
            ElementTree.SubElement(case, "skipped", message=o.reason + verified)
        else:
            ElementTree.SubElement(case, "system-out").text = f"{o.nevra}: {o.reason}"
    return suite


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1024:.1f} KiB"


# the order of the table's rows: what needs a person first
_ORDER = (Status.FAILED, Status.BLOCKED, Status.BUILT, Status.IDENTICAL, Status.SKIPPED)


def report_html(run: RunResult, history: list[Run] | None = None) -> str:
    e = html.escape
    history = history or []
    verdict = "all good" if run.exit_code == 0 else "some builds failed"
    several = len(run.hosts) > 1  # the host column and table: only where builds had a choice
    outcomes = sorted(run.outcomes, key=lambda o: (_ORDER.index(o.status), o.target, o.recipe))
    rows = [_build_row(o, history, several) for o in outcomes]
    return f"""{_head(run, verdict, several)}<body>
<h1>pkgrun nightly: {verdict}</h1>
<div class="summary">{_summary(run)} — started {e(run.started.strftime("%Y-%m-%d %H:%M:%S"))} UTC,
took {run.seconds:.1f} s, pkgrun {e(__version__)}</div>
<table>
<tr><th>status</th><th>recipe</th><th>target</th>{"<th>host</th>" if several else ""}
<th>version</th><th>package</th>
<th>time</th><th>size</th><th title="build time and RPM size over the kept runs, oldest first">trend</th>
<th>why</th><th></th></tr>
{chr(10).join(rows)}
</table>
{_hosts_table(run) if several else ""}
<p><a href="report.json">report.json</a> · <a href="junit.xml">junit.xml</a></p>
{_previous(history)}
</body></html>
"""


def _head(run: RunResult, verdict: str, several: bool) -> str:
    """The page's title and style sheet (the "why" column moves right when there is a host column)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>pkgrun nightly {html.escape(run.started.strftime("%Y-%m-%d %H:%M"))} UTC: {verdict}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em; color: #1f2328; }}
h1 {{ font-size: 1.5em; margin-bottom: .2em; }}
.summary {{ font-size: 1.1em; margin-bottom: 1.2em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .45em .7em; border-bottom: 1px solid #d0d7de; vertical-align: top; }}
th {{ background: #f6f8fa; }}
td.num {{ text-align: right; white-space: nowrap; }}
.badge {{ color: white; border-radius: 1em; padding: .1em .7em; font-weight: 600; }}
.error {{ color: #cf222e; margin-top: .3em; }}
pre {{ background: #f6f8fa; padding: .6em; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }}
td:nth-child({9 + several}) {{ max-width: 48em; }}
.retried {{ color: #9a6700; margin-top: .3em; }}
h2 {{ font-size: 1.15em; margin-top: 1.5em; }}
svg.spark {{ display: block; margin: 2px 0; }}
.previous {{ margin-top: 1em; color: #57606a; }}
</style></head>"""


def _summary(run: RunResult) -> str:
    """How many builds ended in each status, each in its status's colour."""
    counts = {status: sum(o.status is status for o in run.outcomes) for status in Status}
    return " · ".join(f'<span style="color:{_COLOURS[s]}">{counts[s]} {s.value}</span>' for s in Status)


def _build_row(o: Outcome, history: list[Run], several: bool) -> str:
    """One build's row: its status, what was built (and where), its time and size with their
    trend, why, and a link to its log."""
    e = html.escape
    badge = f'<span class="badge" style="background:{_COLOURS[o.status]}">{o.status.value}</span>'
    log = f'<a href="logs/{e(_log_name(o))}">log</a>' if o.log is not None else ""
    cells = [badge, e(o.recipe), e(o.target), *([e(o.host or "")] if several else [])]
    cells += [e(o.version), e(o.nevra or "")]
    cells += [f"{o.seconds:.1f} s", _size(o.size), _trend(o, history), _why(o), log]
    return (
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i - several in (5, 6, 7) else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def _trend(o: Outcome, history: list[Run]) -> str:
    """The build's compile time and RPM size over the kept runs and this one, as two charts."""
    measured = o.status.value in _MEASURED
    node = (o.target, o.recipe)
    now = o.seconds if _compiled(o.status.value, o.reason) else None
    times = [r[1].get(node, (None, None))[0] for r in history] + [now]
    sizes = [r[1].get(node, (None, None))[1] for r in history] + [o.size if measured else None]
    trend = sparkline([float(v) if v is not None else None for v in times], "s", "build time")
    trend += sparkline([float(v) if v is not None else None for v in sizes], "B", "RPM size")
    return trend


def _why(o: Outcome) -> str:
    """The build's reason, with what a rebuild to check it found, its error, the hosts lost
    under it, its log's last lines (open when it failed) and rpmlint's advice."""
    e = html.escape
    detail = e(o.reason)
    if o.verified:
        detail += f'<div class="verified">rebuilt to check: {e(o.verified)}</div>'
    if o.error:
        detail += f'<div class="error">{e(o.error)}</div>'
    for retry in o.retried:
        detail += f'<div class="retried">{e(retry)}</div>'
    if o.log_tail:
        shown = " open" if o.status is Status.FAILED else ""
        tail = e(o.log_tail)
        detail += f"<details{shown}><summary>last lines of the log</summary><pre>{tail}</pre></details>"
    if o.lint:
        findings = e("\n".join(o.lint_grouped or o.lint))
        checks = len(o.lint_grouped) or len(o.lint)
        detail += (
            f"<details><summary>rpmlint: {len(o.lint)} findings of {checks} checks, advice (none fails "
            f"the build)</summary><pre>{findings}</pre></details>"
        )
    return detail


def _hosts_table(run: RunResult) -> str:
    """Per build host: its builds, how long its slots were busy, and whether it went down."""
    e = html.escape
    rows = []
    for h in run.hosts:
        share = h.busy / (h.slots * run.seconds) if h.slots and run.seconds else 0.0
        state = f'<span class="error">down: {e(h.down)}</span>' if h.down else "up"
        rows.append(
            f'<tr><td>{e(h.name)}</td><td>{e(h.engine)}</td><td class="num">{h.slots}</td>'
            f'<td class="num">{h.builds}</td><td class="num">{h.busy:.1f} s</td>'
            f'<td class="num">{share:.0%}</td><td>{state}</td></tr>'
        )
    return f"""<h2>build hosts</h2>
<table>
<tr><th>host</th><th>engine</th><th>builds at once</th><th>builds</th><th>busy</th>
<th title="busy time over (builds at once x the run's time)">use</th><th></th></tr>
{chr(10).join(rows)}
</table>"""


def _previous(history: list[Run]) -> str:
    if not history:
        return ""
    links = " · ".join(
        f'<a href="../{html.escape(name)}/report.html">{html.escape(name)}</a>'
        for name, _ in reversed(history)
    )
    return f'<p class="previous">previous runs, newest first: {links}</p>'


def _link_latest(reports: Path, folder: Path) -> None:
    tmp = reports / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name)
    os.replace(tmp, reports / "latest")


def _prune(reports: Path, keep: int, newest: Path) -> None:
    """Keep the newest ``keep`` runs, ``newest`` among them."""
    runs = sorted(
        p
        for p in reports.iterdir()
        if p.is_dir() and not p.is_symlink() and p.name[:1].isdigit() and p != newest
    )
    for old in runs[: max(0, len(runs) - (keep - 1))]:
        shutil.rmtree(old)
