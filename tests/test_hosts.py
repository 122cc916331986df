"""Build hosts: pkgrun.toml's [[hosts]], reaching them, and a run spread over them with the fake
engines of fake_engine.FakeFleet (one per service URL): each host takes its share, a host that
goes down mid-build has that build tried once more elsewhere, and a build that fails for its
own reasons is not tried again."""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fake_engine import FakeFleet
from helpers import session_key
from pkgrun.config.file import load_config
from pkgrun.config.settings import Settings
from pkgrun.engine.container import Engine, EngineName
from pkgrun.errors import ConfigError, PkgrunError, UsageError
from pkgrun.pipeline.hosts import reach
from pkgrun.pipeline.nightly import nightly_requests
from pkgrun.pipeline.outcome import Status
from pkgrun.pipeline.run_report import report_html, report_json
from pkgrun.pipeline.runner import run_builds
from pkgrun.recipe.directory import load_recipes
from pkgrun.report import NullReporter
from pkgrun.targets import TARGETS
from test_pipeline import TESTS, host_tools, settings_for  # noqa: F401 (a fixture)

A, B = "unix:///run/a.sock", "unix:///run/b.sock"
TWO_HOSTS = f"""
[[hosts]]
name = "a"
url = "{A}"
[[hosts]]
name = "b"
url = "{B}"
builds = 2
make-jobs = 3
"""


def settings_with(tmp_path: Path, config: str, **changes: object) -> Settings:
    (tmp_path / "pkgrun.toml").write_text(config)
    recipes = tmp_path / "recipes"
    if not recipes.exists():  # alpha and gamma (beta runs alpha's program, which a fake cannot)
        shutil.copytree(TESTS / "recipes" / "nightly", recipes, ignore=shutil.ignore_patterns("beta"))
    config_file = tmp_path / "pkgrun.toml"
    return settings_for(
        tmp_path, config_file=config_file, config=load_config(config_file), engine="podman"
    ).but(**changes)


def goes_down_at(fleet: FakeFleet, url: str, when: Callable[[list[str]], bool]) -> None:
    """``url``'s service stops at the first command that ``when`` picks: that command fails as
    podman's client says it then, and so does every one after it."""

    def fail(argv: list[str]) -> int | None:
        if when(argv):
            fleet.engines[url].gone = True
            return 125
        return None

    fleet.engines[url].fail = fail


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeFleet:
    return FakeFleet(tmp_path / "engines", ["", A, B]).install(monkeypatch)


def test_engines_are_reached_by_url_or_by_name() -> None:
    assert Engine(EngineName.PODMAN, url=A).argv("ps") == ["podman", "--url", A, "ps"]
    assert Engine(EngineName.DOCKER, url="ssh://ci@b1").argv("ps") == [
        "docker",
        "--host",
        "ssh://ci@b1",
        "ps",
    ]
    assert Engine(EngineName.PODMAN, connection="b1").argv("ps") == ["podman", "--connection", "b1", "ps"]
    assert Engine(EngineName.DOCKER, connection="b1").argv("ps") == ["docker", "--context", "b1", "ps"]
    assert str(Engine(EngineName.DOCKER, connection="b1")) == "docker (context b1)"
    assert Engine(EngineName.PODMAN, connection="b1").remote


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[[hosts]]\nname = "a"\nurl = "unix:///a"\nconnection = "c"\n', "hosts[0]", "not both"),
        ('[[hosts]]\nname = "a"\nurl = "http://a"\n', "hosts[0].url", "is not an engine's URL: write ssh://"),
        ('[[hosts]]\nname = "a"\narch = "amd64"\n', "hosts[0].arch", "not an RPM architecture"),
        (
            '[[hosts]]\nname = "a"\nurl = "ssh://-oProxyCommand=x"\n',
            "hosts[0].url",
            "would reach ssh as an option",
        ),
        ('[[hosts]]\nname = "a"\nurl = "ssh://-l@host"\n', "hosts[0].url", "would reach ssh as an option"),
        ('[[hosts]]\nname = "a"\ntargets = ["el6"]\n', "hosts[0].targets[0]", "unknown target"),
        ('[[hosts]]\nname = "a"\n[[hosts]]\nname = "a"\n', "hosts[1].name", "a second host"),
        ('[[hosts]]\nname = "a"\nbuilds = 0\n', "hosts[0].builds", "must be at least 1"),
        ('[[hosts]]\nname = "-a"\n', "hosts[0].name", "pattern"),
        ('[[hosts]]\nname = "a"\nengine = "lxc"\n', "hosts[0].engine", "podman"),
        ('[[hosts]]\nname = "a"\nspeed = 3\n', "hosts[0].speed", ""),
    ],
)
def test_a_bad_host_is_named_with_its_field(tmp_path: Path, text: str, field: str, words: str) -> None:
    (tmp_path / "pkgrun.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "pkgrun.toml")
    problems = [(p.field, p.message) for p in caught.value.problems]
    assert any(f.startswith(field) and words in m for f, m in problems), problems


def test_hosts_are_asked_at_once_and_those_not_answering_are_down(tmp_path: Path, fleet: FakeFleet) -> None:
    fleet.engines[A].gone = True
    up, down = reach(settings_with(tmp_path, TWO_HOSTS))
    assert [(h.name, h.builds, h.make_jobs, h.engine.url) for h in up] == [("b", 2, 3, B)]
    assert [d.host for d in down] == ["a"] and "connection refused" in down[0].reason
    # a host without builds or make-jobs is sized by its processors (the fake says 2)
    fleet.engines[A].gone = False
    up, _ = reach(settings_with(tmp_path, TWO_HOSTS, hosts=("a",)))
    assert [(h.name, h.builds, h.make_jobs) for h in up] == [("a", 1, 2)]
    fleet.engines[B].gone = fleet.engines[A].gone = True
    with pytest.raises(PkgrunError, match=r"no build host answers: a: .*; b: "):
        reach(settings_with(tmp_path, TWO_HOSTS))
    with pytest.raises(UsageError, match=r"--host c: no such host"):
        reach(settings_with(tmp_path, TWO_HOSTS, hosts=("c",)))


def run_nightly(settings: Settings):  # type: ignore[no-untyped-def]
    hosts, down = reach(settings)
    requests = nightly_requests(load_recipes(settings.recipes), [TARGETS["local"]], settings)
    return run_builds(requests, settings, hosts, NullReporter(), session_key(), down=down)


def test_a_run_spreads_over_the_hosts_and_publishes_here(tmp_path: Path, fleet: FakeFleet) -> None:
    run = run_nightly(settings_with(tmp_path, TWO_HOSTS))
    assert {o.recipe: o.status for o in run.outcomes} == dict.fromkeys(["alpha", "gamma"], Status.BUILT), [
        (o.error, o.log_tail) for o in run.outcomes
    ]
    on = {o.recipe: o.host for o in run.outcomes}
    assert set(on.values()) == {"a", "b"}  # both hosts used
    for outcome in run.outcomes:  # each build's containers on its own host, none on this machine
        started = fleet.engines[A if outcome.host == "a" else B].started()
        assert any(f"pkgrun-{outcome.recipe}-" in name for name in started)
    assert fleet.engines[""].calls == []
    uses = {u.name: (u.builds, u.busy > 0, u.down) for u in run.hosts}
    assert uses == {
        "a": (list(on.values()).count("a"), True, None),
        "b": (list(on.values()).count("b"), True, None),
    }
    assert sorted(p.name for p in (tmp_path / "repo" / "local" / "x86_64").glob("*.rpm")) == [
        "alpha-1.0-1.local.noarch.rpm",
        "gamma-1.0-1.local.noarch.rpm",
    ]
    # make -j as each host was given: b's 3, a's its processors over its builds (2 / 1)
    for outcome in run.outcomes:
        log = outcome.log.read_text()  # type: ignore[union-attr]
        assert f"PKGRUN_JOBS={3 if outcome.host == 'b' else 2}" in log


def test_a_host_lost_mid_build_has_its_build_tried_once_more_elsewhere(
    tmp_path: Path, fleet: FakeFleet
) -> None:
    settings = settings_with(tmp_path, TWO_HOSTS.replace("builds = 2", "builds = 1"))

    goes_down_at(fleet, A, lambda argv: "bash" in argv)  # while the build script runs
    run = run_nightly(settings)
    assert [o.status for o in run.outcomes] == [Status.BUILT] * 2
    (moved,) = [o for o in run.outcomes if o.retried]
    assert moved.host == "b"
    assert (
        moved.retried[0].startswith("a went down during the build (")
        and "connection refused" in moved.retried[0]
    )
    assert moved.to_json()["retried"] == moved.retried and moved.to_json()["host"] == "b"
    assert {u.name: u.down is not None for u in run.hosts} == {"a": True, "b": False}
    assert len(list((tmp_path / "repo" / "local" / "x86_64").glob("*.rpm"))) == 2
    # the report names the host of each build, the retry, and each host's share
    data = report_json(run)
    assert {b["recipe"]: b["host"] for b in data["builds"]} == {o.recipe: o.host for o in run.outcomes}
    assert [(h["name"], h["down"] is not None) for h in data["hosts"]] == [("a", True), ("b", False)]  # type: ignore[index]
    page = report_html(run)
    assert html.escape(moved.retried[0]) in page
    assert "<h2>build hosts</h2>" in page and "down: " in page


def test_a_build_that_fails_for_its_own_reasons_is_not_tried_again(tmp_path: Path, fleet: FakeFleet) -> None:
    settings = settings_with(tmp_path, TWO_HOSTS)
    for engine in fleet.engines.values():
        engine.fail = lambda argv: 3 if "bash" in argv and any("gamma" in a for a in argv) else None
    run = run_nightly(settings)
    status = {o.recipe: (o.status, o.retried) for o in run.outcomes}
    assert status["gamma"] == (Status.FAILED, [])
    assert status["alpha"] == (Status.BUILT, [])
    gamma_on = [name for url, e in fleet.engines.items() for name in e.started() if "gamma" in name]
    assert len(gamma_on) == 1  # one container: it ran once
    assert all(u.down is None for u in run.hosts)


def test_a_build_no_host_takes_fails_with_the_reason(tmp_path: Path, fleet: FakeFleet) -> None:
    only_el9 = f'[[hosts]]\nname = "a"\nurl = "{A}"\ntargets = ["el9"]\n'
    run = run_nightly(settings_with(tmp_path, only_el9))
    assert {o.status for o in run.outcomes} == {Status.FAILED}
    alpha = next(o for o in run.outcomes if o.recipe == "alpha")
    assert alpha.error == "no build host could run it: no build host that takes it is up"
    assert run.exit_code == 1


def test_a_host_reached_by_a_named_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = FakeFleet(tmp_path / "engines", ["", "build2"]).install(monkeypatch)
    config = '[[hosts]]\nname = "two"\nengine = "docker"\nconnection = "build2"\nbuilds = 2\n'
    run = run_nightly(settings_with(tmp_path, config))
    assert {o.status for o in run.outcomes} == {Status.BUILT}
    assert {o.host for o in run.outcomes} == {"two"}
    started = fleet.engines["build2"].calls
    assert started and all(argv[:3] == ["docker", "--context", "build2"] for argv in started)
    assert fleet.engines[""].calls == []


def test_what_is_skipped_takes_no_host(tmp_path: Path, fleet: FakeFleet) -> None:
    settings = settings_with(tmp_path, TWO_HOSTS)
    first = run_nightly(settings)
    assert {o.status for o in first.outcomes} == {Status.BUILT}, [(o.recipe, o.error) for o in first.outcomes]
    calls = {url: len(engine.calls) for url, engine in fleet.engines.items()}
    # nothing changed: every recipe skipped, though no host that is up takes local builds now
    only_el9 = f'[[hosts]]\nname = "a"\nurl = "{A}"\ntargets = ["el9"]\n'
    run = run_nightly(settings_with(tmp_path, only_el9))
    assert {o.status for o in run.outcomes} == {Status.SKIPPED}
    assert {o.host for o in run.outcomes} == {None}
    assert run.exit_code == 0
    assert fleet.engines[A].calls[calls[A] :] == [
        ["podman", "--url", A, "info", "--format", "{{.Host.CPUs}}"]
    ]
    assert len(fleet.engines[B].calls) == calls[B]


def test_alone_on_this_machine_s_engine_a_failure_is_the_build_s_own(
    tmp_path: Path, fleet: FakeFleet
) -> None:
    """No [[hosts]]: a failed engine command is not followed by a question to the engine, and
    nothing is tried again, as before build hosts existed."""
    local = fleet.engines[""]
    local.fail = lambda argv: 3 if "bash" in argv else None
    settings = settings_with(tmp_path, "")
    requests = nightly_requests(load_recipes(settings.recipes), [TARGETS["local"]], settings)
    run = run_builds(requests, settings, Engine(EngineName.PODMAN), NullReporter(), session_key())
    assert {o.recipe: o.error for o in run.outcomes} == dict.fromkeys(
        ["alpha", "gamma"], "build.sh failed (exit status 3)"
    )
    assert [argv for argv in local.calls if "info" in argv] == []
    assert all(not o.retried for o in run.outcomes)


def test_a_host_lost_in_the_install_test_has_the_build_tried_elsewhere(
    tmp_path: Path, fleet: FakeFleet
) -> None:
    settings = settings_with(tmp_path, TWO_HOSTS.replace("builds = 2", "builds = 1"))

    goes_down_at(fleet, A, lambda argv: "-test-" in " ".join(argv) and "exec" in argv)
    run = run_nightly(settings)
    assert [o.status for o in run.outcomes] == [Status.BUILT] * 2
    (moved,) = [o for o in run.outcomes if o.retried]
    assert moved.host == "b" and "went down during the build" in moved.retried[0]


def test_the_last_host_lost_fails_the_build_with_its_own_error_and_the_reason(
    tmp_path: Path, fleet: FakeFleet
) -> None:
    settings = settings_with(tmp_path, TWO_HOSTS)
    fleet.engines[B].gone = True  # down from the start

    goes_down_at(fleet, A, lambda argv: "bash" in argv)
    run = run_nightly(settings)
    first = next(o for o in run.outcomes if o.retried == [] and o.status is Status.FAILED and o.host == "a")
    assert first.error is not None and first.error.startswith(
        "build.sh failed (exit status 125) (a does not answer: "
    )
    others = [o for o in run.outcomes if o is not first]
    assert all(o.error == "no build host could run it: no build host that takes it is up" for o in others)
    assert {h.name: h.down is not None for h in run.hosts} == {"a": True, "b": True}


def test_a_hung_host_s_commands_are_stopped_and_it_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    import threading
    import time

    from pkgrun import run
    from pkgrun.pipeline import hosts
    from pkgrun.pipeline.hosts import BuildHost, Watch

    host = BuildHost("far", Engine(EngineName.PODMAN, url=A), 1)
    monkeypatch.setattr(hosts, "answers", lambda h: "no answer within 30 s")
    watch = Watch([host], interval=0.05)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with run._live(["podman", "--url", A, "exec", "x", "make"], hung), watch.running(), watch.building(host):
        deadline = time.monotonic() + 30
        while hung.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert hung.returncode == -9  # killed, so the build fails and finds its host gone
    assert watch.gone == {"far": "no answer within 30 s"}
    assert not any(t.name == "pkgrun-watch" for t in threading.enumerate())


def test_commands_to_a_stopped_engine_are_stopped_until_it_is_allowed_again() -> None:
    import subprocess
    import sys

    from pkgrun import run

    prefix = ["podman", "--url", A]
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with run._live([*prefix, "exec", "x", "make"], first):
        assert run.stop_processes(prefix) == 1
        assert first.wait(timeout=30) == -9
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with run._live([*prefix, "cp", "-", "x:/"], later):  # sent to the hung host after the kill
        assert later.wait(timeout=30) == -9
    other = subprocess.Popen([sys.executable, "-c", "pass"])
    with run._live(["podman", "--url", B, "ps"], other):  # another host's: untouched
        assert other.wait(timeout=30) == 0
    run.allow_processes(prefix)
    again = subprocess.Popen([sys.executable, "-c", "pass"])
    with run._live([*prefix, "ps"], again):
        assert again.wait(timeout=30) == 0


def test_a_build_stranded_after_its_host_went_keeps_its_own_error(tmp_path: Path, fleet: FakeFleet) -> None:
    """Both hosts go down under builds: the build that could have moved finds no host left, and
    says both what failed and why it could not move."""
    settings = settings_with(tmp_path, TWO_HOSTS.replace("builds = 2", "builds = 1"))
    for url in (A, B):
        goes_down_at(fleet, url, lambda argv: "bash" in argv)
    run = run_nightly(settings)
    assert {o.status for o in run.outcomes} == {Status.FAILED}
    for outcome in run.outcomes:
        assert outcome.error is not None and outcome.error.startswith("build.sh failed (exit status 125)")
    assert all(h.down for h in run.hosts)


def test_a_build_that_loses_every_host_keeps_its_own_failure_and_its_log(
    tmp_path: Path, fleet: FakeFleet
) -> None:
    """One build, two hosts, each going down under it: it moves once, then its own failure stands,
    saying the host it was lost on, with its log (not "no build host could run it")."""
    settings = settings_with(tmp_path, TWO_HOSTS.replace("builds = 2", "builds = 1"))
    shutil.rmtree(settings.recipes / "gamma")
    for url in (A, B):
        goes_down_at(fleet, url, lambda argv: "bash" in argv)
    (outcome,) = run_nightly(settings).outcomes
    assert outcome.status is Status.FAILED
    first, second = ("a", "b") if outcome.retried[0].startswith("a ") else ("b", "a")
    assert len(outcome.retried) == 1 and outcome.retried[0].startswith(
        f"{first} went down during the build ("
    )
    assert outcome.error is not None and outcome.error.startswith("build.sh failed (exit status 125) (")
    assert f"({second} does not answer: " in outcome.error and "no build host" not in outcome.error
    assert outcome.log is not None and outcome.log.is_file()


def test_this_machine_without_a_runtime_that_runs_here_is_a_host_down(
    tmp_path: Path, fleet: FakeFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crun refuses this machine's cgroups and podman finds no runc: this machine is down
    with that reason and the other host builds; alone, it fails with its own error and hint."""
    import pkgrun.engine.oci_runtime
    from pkgrun.errors import ToolNotFound

    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    controllers = tmp_path / "cgroup.controllers"
    controllers.write_text("hugetlb\n")
    monkeypatch.setattr(pkgrun.engine.oci_runtime, "MOUNTINFO", mountinfo)
    monkeypatch.setattr(pkgrun.engine.oci_runtime, "CONTROLLERS", controllers)
    fleet.engines[""].runtime, fleet.engines[""].runtimes = "crun", {"crun"}
    config = f'[[hosts]]\nname = "here"\nengine = "podman"\n[[hosts]]\nname = "b"\nurl = "{B}"\n'
    up, down = reach(settings_with(tmp_path, config))
    assert [h.name for h in up] == ["b"]
    assert [d.host for d in down] == ["here"] and "podman finds no runc" in down[0].reason
    with pytest.raises(ToolNotFound, match="podman finds no runc") as caught:
        reach(settings_with(tmp_path, config, hosts=("here",)))
    assert caught.value.hint and "install runc" in caught.value.hint
