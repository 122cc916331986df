"""The nightly job's pure parts: the build cache's decisions, the graph, the configuration, the
report files."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest

from helpers import RECIPES, seed_recipe
from pkgrun.build import cache as buildcache
from pkgrun.build.plan import Options, make_plan
from pkgrun.config.file import load_config
from pkgrun.errors import ConfigError, UsageError
from pkgrun.pipeline.outcome import Outcome, RunResult, Status
from pkgrun.pipeline.run_report import junit_xml, report_html, report_json
from pkgrun.pipeline.scheduler import graph
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.repo.publish import record_index
from pkgrun.targets import TARGETS


def plan_of(name: str = "nginx"):
    return make_plan(
        LoadedRecipe(seed_recipe(name), RECIPES / name),
        TARGETS["local"],
        out_dir=Path("o"),
        options=Options(),
    )


def test_decisions(tmp_path: Path) -> None:
    plan = plan_of()
    inputs = buildcache.inputs_of(plan, image="sha256:abc", packager="nfpm v2")
    assert buildcache.decide(plan, inputs, tmp_path, set()) == buildcache.Decision(
        True, "never built for local"
    )
    entry = {
        "digest": inputs.digest(),
        "inputs": inputs.__dict__,
        "nevra": "nginx-0:1.22.1-2.local.x86_64",
        "file": "nginx-1.22.1-2.local.x86_64.rpm",
    }
    record_index(tmp_path, {buildcache.key(plan): entry})
    listed = {"nginx-1.22.1-2.local.x86_64.rpm"}
    assert buildcache.decide(plan, inputs, tmp_path, listed).build is False
    assert buildcache.decide(plan, inputs, tmp_path, set()).reason == (
        "nginx-0:1.22.1-2.local.x86_64 is no longer published"
    )
    changed = buildcache.Inputs(
        **{**inputs.__dict__, "image": "sha256:def", "files": {**inputs.files, "after_install.sh": "0" * 64}}
    )
    assert buildcache.decide(plan, changed, tmp_path, listed).reason == (
        "changed: after_install.sh changed, build image changed"
    )


def test_every_file_of_the_recipe_directory_is_an_input() -> None:
    files = buildcache.recipe_files(RECIPES / "nginx")
    assert {"recipe.toml", "build.sh", "before_install.sh", "conf/nginx.conf"} <= set(files)


@pytest.mark.parametrize(
    ("iteration", "published", "expected"),
    [
        ("3", [], "3"),
        ("3", ["2"], "3"),
        ("3", ["3"], "3.1"),
        ("3", ["3", "3.1", "3.4"], "3.5"),
        ("3", ["3", "3.1.2"], "3.1"),
        ("3", ["3.1", "3.4"], "3.5"),  # 3 pruned by retention: still after what is left
        ("3", ["3.1.2"], "3"),
    ],
)
def test_next_iteration(iteration: str, published: list[str], expected: str) -> None:
    assert buildcache.next_iteration(iteration, published) == expected


def test_a_cycle_is_a_usage_error(tmp_path: Path) -> None:
    from helpers import demo

    a = LoadedRecipe(demo('[files]\npaths = ["usr"]\n').model_copy(), tmp_path)
    rec_a = a.recipe.model_copy(
        update={
            "package": a.recipe.package.model_copy(update={"name": "a"}),
            "build": a.recipe.build.model_copy(update={"recipes": ["b"]}),
        }
    )
    rec_b = a.recipe.model_copy(
        update={
            "package": a.recipe.package.model_copy(update={"name": "b"}),
            "build": a.recipe.build.model_copy(update={"recipes": ["a"]}),
        }
    )
    with pytest.raises(UsageError, match=r"in a cycle: (a -> b -> a|b -> a -> b)"):
        graph([LoadedRecipe(rec_a, tmp_path), LoadedRecipe(rec_b, tmp_path)], [TARGETS["local"]])


def test_configuration_errors(tmp_path: Path) -> None:
    file = tmp_path / "pkgrun.toml"
    file.write_text('[nightly]\ntargets = ["el6", "local"]\nbuilds = 0\n')
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert sorted(p.field for p in info.value.problems) == ["nightly.builds"]
    file.write_text('[nightly]\ntargets = ["el6", "local"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert [str(p) for p in info.value.problems] == [f"{file}: nightly.targets[0]: unknown target 'el6'"]
    assert "configuration file" in info.value.message
    assert load_config(tmp_path / "missing.toml").nightly.targets == ["el7"]


def test_report_files() -> None:
    run = RunResult(
        datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
        [
            Outcome(
                "el7",
                "nginx",
                "1.12.1",
                Status.BUILT,
                "never built for el7",
                "nginx-0:1.12.1-2.el7.x86_64",
                size=500_000,
                seconds=30,
            ),
            Outcome(
                "el7",
                "php",
                "7.1.8",
                Status.FAILED,
                "changed: build.sh changed",
                error="build.sh failed",
                log_tail="make: *** [all] Error 2 <oops>",
                seconds=12,
                log=Path("/x/php.log"),
            ),
            Outcome("el7", "supervisor", "3.1.4", Status.SKIPPED, "inputs unchanged"),
        ],
        seconds=42,
    )
    data = report_json(run)
    assert data["exit_code"] == 1
    assert data["counts"] == {"built": 1, "skipped": 1, "failed": 1, "blocked": 0, "identical": 0}
    assert data["builds"][1]["log"] == "logs/php-el7.log"
    json.dumps(data)
    page = report_html(run)
    assert "pkgrun nightly: some builds failed" in page
    assert "make: *** [all] Error 2 &lt;oops&gt;" in page  # escaped
    assert '<a href="logs/php-el7.log">log</a>' in page
    suite = junit_xml(run)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["nginx 1.12.1", "php 7.1.8", "supervisor 3.1.4"]
    assert cases[1].find("failure") is not None and cases[2].find("skipped") is not None
    assert ElementTree.tostring(suite)


def test_recipe_files_never_follow_a_link(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.conf").write_text("a\n")
    (tmp_path / "b.conf").symlink_to("conf/a.conf")
    (tmp_path / "elsewhere").symlink_to("/etc")  # refused when the recipe loads; never read here
    files = buildcache.recipe_files(tmp_path)
    assert files == {
        "b.conf": "-> conf/a.conf",
        "conf/a.conf": hashlib.sha256(b"a\n").hexdigest(),
        "elsewhere": "-> /etc",
    }


def test_the_report_links_earlier_runs_and_charts_each_recipe_over_them(tmp_path: Path) -> None:
    from pkgrun.pipeline.run_report import write_report

    def run(day: int, seconds: float, size: int) -> RunResult:
        built = Outcome("el7", "php", "7.1.8", Status.BUILT, "changed", "php-0:7.1.8-3.el7.x86_64")
        built.seconds, built.size = seconds, size
        skipped = Outcome("el7", "nginx", "1.12.1", Status.SKIPPED, "inputs unchanged")
        return RunResult(datetime(2026, 11, day, 3, 0, tzinfo=UTC), [built, skipped], seconds=seconds)

    reports = tmp_path / "reports"
    for day, seconds in ((1, 400), (2, 410), (3, 395)):
        write_report(run(day, seconds, 30_000_000), reports, keep=14)
    folder = write_report(run(4, 900, 30_500_000), reports, keep=14)  # php got much slower
    page = (folder / "report.html").read_text()
    assert '<a href="../20261103-030000/report.html">20261103-030000</a>' in page
    assert page.index("20261103-030000") < page.index("20261101-030000")  # newest first
    charts = re.findall(r'<svg class="spark( grew)?"[^>]*aria-label="([^"]*)"', page)
    # php: its time (the newest point red: more than a fifth above the median) and its size;
    # nginx was never built in these runs: nothing to chart
    assert charts == [
        (" grew", "build time: 400 s, 410 s, 395 s, 900 s"),
        ("", "RPM size: 28.6 MiB, 28.6 MiB, 28.6 MiB, 29.1 MiB"),
    ]
    assert "<script" not in page and "http" not in page  # drawn in the page, nothing fetched
