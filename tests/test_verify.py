"""The RPM check, golden: a real package (made with nfpm) read back with rpm and compared with
its plan, the scriptlets pkgrun made and the staged files; each deviation named exactly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import demo, nfpm_package, require_tools
from pkgrun.build.plan import Options, make_plan
from pkgrun.build.staging import Entry
from pkgrun.build.verify import check_rpm
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.rpm.query import read_rpm
from pkgrun.targets import TARGETS

RECIPE = """
[files]
paths = ["etc", "usr"]
config = ["/etc/demo.conf"]
[requires]
apt = ["libc6", "zlib1g >= 1:1.2"]
[hooks]
after-install = "post.sh"
"""


@pytest.fixture(autouse=True)
def rpm_tool() -> None:
    if shutil.which("rpm") is None:
        pytest.skip("rpm is not installed")


def package(tmp_path: Path, **changes: object) -> Path:
    """demo-1.0-1.local.x86_64 as the plan wants it, with ``changes`` to its nfpm configuration."""
    (tmp_path / "conf").write_text("x = 1\n")
    (tmp_path / "bin").write_text("#!/bin/sh\n")
    (tmp_path / "post").write_text("echo installed\n")
    config = {
        "name": "demo", "arch": "x86_64", "epoch": "0", "version": "1.0", "release": "1.local",
        "version_schema": "none", "maintainer": "me", "description": "demo", "license": "MIT",
        "homepage": "https://example.org/", "depends": ["libc6", "zlib1g >= 1:1.2", "/bin/sh"],
        "rpm": {"summary": "demo", "compression": "gzip"},
        "scripts": {"postinstall": str(tmp_path / "post")},
        "contents": [
            {"src": str(tmp_path / "conf"), "dst": "/etc/demo.conf", "type": "config|noreplace",
             "file_info": {"mode": 0o644}},
            {"src": str(tmp_path / "bin"), "dst": "/usr/bin/demo", "file_info": {"mode": 0o755}},
        ],
        **changes,
    }  # fmt: skip
    return nfpm_package(config, tmp_path / "demo.rpm")


def plan():  # type: ignore[no-untyped-def]
    return make_plan(
        LoadedRecipe(demo(RECIPE), Path("demo")), TARGETS["local"], out_dir=Path("o"), options=Options()
    )


STAGED = [Entry("f", 0o644, "/etc/demo.conf"), Entry("f", 0o755, "/usr/bin/demo")]
SCRIPTS = {"postinstall": "echo installed\n"}


def test_a_package_as_planned_has_no_problems(tmp_path: Path) -> None:
    info = read_rpm(package(tmp_path))
    assert info.nevra == "demo-0:1.0-1.local.x86_64"
    assert info.requires == ["libc6", "zlib1g >= 1:1.2", "/bin/sh"]
    assert [(f.path, f.mode, f.config) for f in info.files] == [
        ("/etc/demo.conf", "-rw-r--r--", True),
        ("/usr/bin/demo", "-rwxr-xr-x", False),
    ]
    assert check_rpm(info, plan(), SCRIPTS, STAGED) == []


def test_every_deviation_is_named(tmp_path: Path) -> None:
    (tmp_path / "other").write_text("echo something else\n")
    rpm = package(
        tmp_path,
        release="2.local",
        license="GPL",
        depends=["libc6", "/bin/sh"],
        scripts={"postinstall": str(tmp_path / "other")},
        contents=[
            {"src": str(tmp_path / "conf"), "dst": "/etc/demo.conf", "file_info": {"mode": 0o644}},
            {"src": str(tmp_path / "bin"), "dst": "/usr/bin/demo", "file_info": {"mode": 0o4755}},
            {
                "src": str(tmp_path / "bin"),
                "dst": "/usr/bin/extra",
                "file_info": {"mode": 0o755, "owner": "nobody"},
            },
        ],
    )
    assert check_rpm(read_rpm(rpm), plan(), SCRIPTS, STAGED) == [
        "RELEASE is '2.local', the recipe says '1.local'",
        "LICENSE is 'GPL', the recipe says 'MIT'",
        "Requires lacks zlib1g >= 1:1.2",
        "not marked %config(noreplace): /etc/demo.conf",
        "not owned by root: /usr/bin/extra",
        "the %postin scriptlet is not the recipe's hook as written",
        "in the package but never staged: /usr/bin/extra",
        "modes differ from the staged files: /usr/bin/demo (4755, staged 755)",
    ]


def test_text_inside_a_package_cannot_pass_for_the_reader_s_separators(tmp_path: Path) -> None:
    """read_rpm asks rpm once for everything; a summary or scriptlet holding control characters
    (the unit and record separators among them) or lines that look like rpm's output is read
    back exactly as rpm prints that tag on its own."""
    (tmp_path / "hostile").write_text("echo a\x1fb\x1ec\n\x1e0123456789abcdef\x1e\n(none)\n")
    rpm = package(
        tmp_path,
        description="demo",
        rpm={"summary": "sum\x1fmary\x1e with \t tabs", "compression": "gzip"},
        scripts={"postinstall": str(tmp_path / "post"), "preremove": str(tmp_path / "hostile")},
    )
    info = read_rpm(rpm)

    def alone(tag: str) -> str:
        argv = ["rpm", "-qp", "--nosignature", "--nodigest", "--qf", f"%{{{tag}}}", str(rpm)]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    assert info.header["SUMMARY"] == alone("SUMMARY") == "sum\x1fmary\x1e with \t tabs"
    assert info.scripts["PREUN"] == alone("PREUN") and "\x1e0123456789abcdef\x1e" in info.scripts["PREUN"]
    assert info.scripts["POSTIN"] == alone("POSTIN") and info.scripts["POSTUN"] == ""
    assert [f.path for f in info.files] == ["/etc/demo.conf", "/usr/bin/demo"]


def rpmbuild_package(tmp_path: Path, name: str, files: str, scriptlets: str) -> Path:
    """A package rpmbuild makes from a spec: what nfpm cannot make (a scriptlet that is a
    program alone, file names with any character rpm allows)."""
    spec = tmp_path / f"{name}.spec"
    spec.write_text(
        f"Name: {name}\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n"
        f"%description\nd\n%install\nmkdir -p %{{buildroot}}/opt\n{files}\n"
        f"%files\n/opt\n{scriptlets}\n"
    )
    top = tmp_path / "top"
    subprocess.run(
        ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", "_build_id_links none",
         str(spec)], check=True, capture_output=True,
    )  # fmt: skip
    return next((top / "RPMS" / "noarch").glob(f"{name}-*.rpm"))


def test_any_file_name_rpm_allows_is_read_whole(tmp_path: Path) -> None:
    """Unicode's line and paragraph separators and NEL in file names are not where the reader
    cuts (str.splitlines would): the names come back as rpm holds them."""
    require_tools("rpmbuild")
    odd = ["/opt/a\u2028b", "/opt/c\u0085d", "/opt/e\u2029f"]  # rpmbuild refuses ASCII controls
    made = "\n".join(f"touch %{{buildroot}}'{path}'" for path in odd)
    info = read_rpm(rpmbuild_package(tmp_path, "odd", made, ""))
    assert sorted(f.path for f in info.files) == sorted(["/opt", *odd])


def test_a_scriptlet_that_is_a_program_alone_is_seen(tmp_path: Path) -> None:
    """%pretrans -p /bin/true has no body: its interpreter is what says it is there."""
    require_tools("rpmbuild")
    info = read_rpm(rpmbuild_package(tmp_path, "prog", "", "%pretrans -p /bin/true\n%posttrans\n(none)\n"))
    assert info.scripts["PRETRANS"] == "" and info.scripts["PRETRANSPROG"] == "/bin/true"
    assert info.scripts["POSTTRANS"].strip() == "(none)"  # a body that says (none) is a body
    assert check_rpm(info, plan())[-1] == (
        "scriptlets the recipe did not ask for: POSTTRANS, PRETRANSPROG, POSTTRANSPROG"
    )
