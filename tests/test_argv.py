"""Golden argv for the command builders not covered beside their subject (fpm: test_fpm.py;
containers: test_container.py; staging: test_nfpm.py): each against the exact list expected."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import RECIPES, seed_recipe
from pkgrun.build import container_commands
from pkgrun.build.container_commands import fpm_command, nfpm_argv
from pkgrun.build.lint import parse_findings, rpmlint_argv
from pkgrun.build.plan import Options, make_plan
from pkgrun.install import install_test, runtime_image, shim
from pkgrun.pipeline import compiling
from pkgrun.pipeline.compiling import dependencies_argv
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.recipe.script_lint import parse_json1, shellcheck_argv, syntax_argv
from pkgrun.repo.metadata import createrepo_argv
from pkgrun.rpm.query import query_argv
from pkgrun.run import find_tool
from pkgrun.targets import TARGETS


def plan(name: str, target: str):  # type: ignore[no-untyped-def]
    return make_plan(
        LoadedRecipe(seed_recipe(name), RECIPES / name), TARGETS[target], out_dir=Path("o"), options=Options()
    )


def test_nfpm_argv() -> None:
    assert nfpm_argv(plan("nginx", "local")) == [
        "/pkgrun/bin/nfpm", "package", "--config", "/pkgrun/tools/nfpm.yaml", "--packager", "rpm",
        "--target", "/pkgrun/out/nginx-1.22.1-2.local.x86_64.rpm",
    ]  # fmt: skip


def test_fpm_command_has_the_directories_the_build_found() -> None:
    supervisor = plan("supervisor", "el7")
    argv = fpm_command(supervisor, ["/etc/supervisord.d", "/usr/lib/python2.7/site-packages/supervisor"])
    dirs = [argv[i + 1] for i, t in enumerate(argv) if t == "--directories"]
    assert dirs == ["/etc/supervisord.d", "/usr/lib/python2.7/site-packages/supervisor"]
    assert supervisor.fpm_argv is not None
    without = [
        t for i, t in enumerate(argv) if t != "--directories" and (i == 0 or argv[i - 1] != "--directories")
    ]
    planned = list(supervisor.fpm_argv)
    planned_without = [
        t
        for i, t in enumerate(planned)
        if t != "--directories" and (i == 0 or planned[i - 1] != "--directories")
    ]
    assert without == planned_without  # only the directories differ from the plan


def test_dependencies_argv() -> None:
    assert dependencies_argv([Path("/x/libevent-2.1.12-1.local.x86_64.rpm")]) == [
        "rpm", "-U", "--nodeps", "--replacepkgs", "/pkgrun/deps/libevent-2.1.12-1.local.x86_64.rpm",
    ]  # fmt: skip


def test_createrepo_argv(tmp_path: Path) -> None:
    argv = createrepo_argv(tmp_path, Path("/o"), "gz", Path("/l"))
    assert argv == [
        "createrepo_c", "--quiet", "--update", "--no-database", "--general-compress-type", "gz",
        "--pkglist", "/l", "--outputdir", "/o", str(tmp_path),
    ]  # fmt: skip
    # what it reuses is pkgrun's own copy of the metadata it wrote, never the repository's
    assert createrepo_argv(tmp_path, Path("/o"), "zstd", Path("/l"), Path("/state/x86_64"))[-3:] == [
        "--update-md-path",
        "/state/x86_64",
        str(tmp_path),
    ]


def test_createrepo_c_runs_as_the_binary_its_package_carries() -> None:
    """The createrepo_c pkgrun runs is the one its Python dependency pins (whose bindings read
    the metadata back), and the binary itself, not the wrapper script that starts Python first."""
    import createrepo_c

    found = Path(find_tool("createrepo_c"))
    assert found.read_bytes()[:4] == b"\x7fELF"
    assert found.is_relative_to(Path(createrepo_c.__file__).parent)
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout
    assert createrepo_c.VERSION in version


def test_rpm_and_rpmlint_argv() -> None:
    assert query_argv(Path("/x.rpm"), "%{NAME}") == [
        "rpm", "-qp", "--nosignature", "--nodigest", "--qf", "%{NAME}", "/x.rpm",
    ]  # fmt: skip
    assert rpmlint_argv(Path("/x.rpm")) == ["rpmlint", "/x.rpm"]
    findings = parse_findings(
        "nginx.x86_64: E: dir-or-file-in-usr-local /usr/local/nginx\n"
        "nginx.x86_64: W: no-documentation\n"
        "1 packages and 0 specfiles checked; 1 errors, 1 warnings\n"
    )
    assert [(f.level, f.check, f.detail) for f in findings] == [
        ("E", "dir-or-file-in-usr-local", "/usr/local/nginx"),
        ("W", "no-documentation", ""),
    ]


def test_script_checks_argv_and_output() -> None:
    assert syntax_argv("sh", Path("/r/hook.sh")) == ["sh", "-n", "/r/hook.sh"]
    assert shellcheck_argv("bash", [Path("/r/build.sh")], ["SC2086", "SC2034"]) == [
        "shellcheck", "--norc", "--format=json1", "--shell=bash", "--severity=info",
        "--exclude=SC2086,SC2034", "--", "/r/build.sh",
    ]  # fmt: skip
    found = parse_json1(
        '{"comments": [{"file": "/r/a.sh", "line": 3, "endLine": 3, "column": 4, "endColumn": 6,'
        ' "level": "warning", "code": 2115, "message": "Use \\"${var:?}\\"", "fix": null}]}'
    )
    (finding,) = found["/r/a.sh"]
    assert str(finding) == 'line 3: SC2115 (warning): Use "${var:?}"' and finding.fails


# Every shell snippet pkgrun runs in a container, and each target's install line: shellcheck
# (as POSIX sh, which every image has) finds nothing in them.
SNIPPETS = {
    "stage": container_commands._STAGE_SCRIPT,
    "ccache links": compiling._CCACHE_LINKS,
    "snapshot": install_test._SNAPSHOT,
    "left behind": install_test._LEFT_BEHIND,
    "existing": container_commands.EXISTING,
    "image sonames": shim._IMAGE_SONAMES,
    "image nevras": runtime_image._CHECK_NEVRAS,
    "libraries": install_test._MISSING_LIBRARIES,
    "signatures": install_test._CHECKSIG,
    **{f"install on {name}": target.install for name, target in TARGETS.items()},
    **{f"look-up on {name}": target.lookup for name, target in TARGETS.items()},
    **{
        f"image install on {name}": runtime_image.install_command(
            target, {"a b.rpm": "a-0:1-1.x86_64"}, True
        )[2]
        for name, target in TARGETS.items()
    },
}


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_every_shell_snippet_passes_shellcheck(name: str, tmp_path: Path) -> None:
    script = tmp_path / "snippet.sh"
    script.write_text(SNIPPETS[name])
    result = subprocess.run(
        [find_tool("shellcheck"), "--shell=sh", "--severity=style", str(script)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_clamp_argv_dates_every_staged_file() -> None:
    assert container_commands.clamp_argv(1700000000) == [
        "find", "/pkgrun/destdir", "-exec", "touch", "-h", "-d", "@1700000000", "{}", "+",
    ]  # fmt: skip
