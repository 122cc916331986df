"""The SBOM beside every package: made by a build (the fake engine's, see fake_engine.py),
checked against the package itself and CycloneDX's schema, found by `pkgrun sbom`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fake_engine import FakeEngine
from helpers import key_env, make_rpm
from pkgrun.build.sources import sha256_file
from pkgrun.cli.main import main
from pkgrun.pipeline.outcome import Status
from pkgrun.repo.data import list_published
from pkgrun.rpm.header import content_digest
from pkgrun.trust.sbom import validation_errors
from test_pipeline import build, host_tools, settings_for  # noqa: F401  (the fixture)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def by_role(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for component in document["components"]:
        roles = [p["value"] for p in component.get("properties", []) if p["name"] == "pkgrun:role"]
        out[roles[0]].append(component)
    return out


def sha256_of(component: dict[str, Any]) -> str:
    return next((h["content"] for h in component.get("hashes", []) if h["alg"] == "SHA-256"), "")


def rpm_query(rpm: Path, *query: str) -> list[str]:
    return subprocess.run(
        ["rpm", "-qp", *query, str(rpm)], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def test_the_published_sbom_describes_the_package_and_what_made_it(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    (outcome,) = build(settings, "local").outcomes
    assert outcome.status is Status.BUILT, outcome.error
    (row,) = list_published(settings.repo)
    assert row.sbom is not None and row.sbom.name == "hello-1.0-4.local.noarch.cdx.json"
    text = row.sbom.read_text()
    assert validation_errors(text) == []
    document = json.loads(text)

    package = document["metadata"]["component"]
    assert package["purl"] == "pkg:rpm/pkgrun/hello@1.0-4.local?arch=noarch&distro=local&epoch=0"
    assert package["licenses"] == [{"license": {"id": "MIT"}}]
    assert package["supplier"]["name"] == "pkgrun tests"
    assert package["externalReferences"][0]["url"] == "https://example.org/hello"
    # the package's header and payload: what signing leaves alone
    assert sha256_of(package) == content_digest(row.path)

    roles = by_role(document)
    (source,) = roles["upstream source"]
    assert source["name"] == "hello-1.0.tar.gz" and source["version"] == "1.0"
    assert sha256_of(source) == sha256_file(Path(settings.mirrors[0]) / "hello-1.0.tar.gz")
    assert source["externalReferences"][0]["url"] == "https://example.org/hello-1.0.tar.gz"

    requires = {c["name"] for c in roles["runtime requirement"]}
    assert requires == {
        line.split()[0] for line in rpm_query(row.path, "--requires") if not line.startswith("rpmlib(")
    }

    # the build image's packages, exactly as its package manager lists them (the fake engine's
    # image is this host: dpkg-query here)
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"], capture_output=True, text=True
    )
    image = dict(line.split("\t", 1) for line in listed.stdout.splitlines() if "\t" in line)
    built_with = {c["name"]: c["version"] for c in roles["build-time package"]}
    assert built_with == image and all(c["purl"].startswith("pkg:deb/") for c in roles["build-time package"])

    recipe_dir = settings.recipes / "hello"
    recipe_files = {c["name"].removeprefix("recipe/"): sha256_of(c) for c in roles["recipe file"]}
    assert recipe_files == {
        p.relative_to(recipe_dir).as_posix(): sha256_file(p) for p in recipe_dir.rglob("*") if p.is_file()
    }

    # every file of the package with its digest, as rpm lists them
    dump = [line.split() for line in rpm_query(row.path, "--dump")]
    packaged = {c["name"]: sha256_of(c) for c in roles["packaged file"]}
    expected = {fields[0]: (fields[3] if fields[3].strip("0") else "") for fields in dump}
    assert packaged == expected
    assert all(len(digest) == 64 for path, digest in packaged.items() if path == "/usr/bin/hello")


def test_pkgrun_sbom_finds_it_by_name_nevra_or_file(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    (outcome,) = build(settings, "local").outcomes
    assert outcome.published is not None, (outcome.status, outcome.error)
    (row,) = list_published(settings.repo)
    assert row.sbom is not None
    expected = row.sbom.read_text()
    common = ["--repo", str(settings.repo), "--target", "local"]
    for name in ("hello", "hello-0:1.0-4.local.noarch", "hello-1.0-4.local.noarch", str(row.path)):
        assert main(["sbom", name, *common], env={}) == 0
        assert capsys.readouterr().out.rstrip("\n") == expected.rstrip("\n")
    assert main(["sbom", "nothing", *common], env={}) == 2
    assert "no package 'nothing'" in capsys.readouterr().err
    assert main(["repo", "list", "--json", "--repo", str(settings.repo)], env={}) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["sbom"] == str(row.sbom)


def test_the_sbom_is_the_same_for_the_same_package(engine: FakeEngine, tmp_path: Path) -> None:
    """Deterministic: the serial number comes from the package, the timestamp from the source."""
    first = settings_for(tmp_path / "one", unsigned=True, publish=False)
    second = settings_for(tmp_path / "two", unsigned=True, publish=False)
    (a,) = build(first, "local").outcomes
    (b,) = build(second, "local").outcomes
    assert a.result is not None and b.result is not None
    assert (
        hashlib.sha256(a.result.rpm.read_bytes()).digest()
        == hashlib.sha256(b.result.rpm.read_bytes()).digest()
    )
    sbom_a, sbom_b = a.result.sbom.read_text(), b.result.sbom.read_text()
    assert sbom_a == sbom_b
    with tarfile.open(Path(first.mirrors[0]) / "hello-1.0.tar.gz") as tar:
        newest = max(member.mtime for member in tar.getmembers())
    stamp = datetime.fromisoformat(json.loads(sbom_a)["metadata"]["timestamp"])
    assert stamp == datetime.fromtimestamp(newest, tz=UTC)  # SOURCE_DATE_EPOCH, not today's clock


def publish_one(rpm: Path, repo: Path) -> tuple[Any, dict[str, Any]]:
    """``rpm`` published from its file: its row in the repository, and its SBOM, valid."""
    assert main(["publish", "--repo", str(repo), "--target", "local", str(rpm)], env=key_env()) == 0
    (row,) = list_published(repo)
    assert row.sbom is not None
    text = row.sbom.read_text()
    assert validation_errors(text) == []
    return row, json.loads(text)


def test_a_package_published_from_a_file_gets_an_sbom_of_what_it_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    before = content_digest(rpm)
    row, document = publish_one(rpm, tmp_path / "repo")
    package = document["metadata"]["component"]
    assert package["purl"] == "pkg:rpm/pkgrun/alpha@1.0-1.local?arch=x86_64&distro=local&epoch=0"
    assert sha256_of(package) == content_digest(row.path) == before  # publishing signed it; the same
    origin = {p["name"]: p["value"] for p in document["metadata"]["properties"]}["pkgrun:origin"]
    assert "pkgrun did not build" in origin
    files = {c["name"]: sha256_of(c) for c in by_role(document)["packaged file"]}
    assert files == {"/usr/share/alpha/content": hashlib.sha256(b"alpha 1.0-1.local \n").hexdigest()}


def test_an_sbom_beside_the_file_that_is_about_another_package_is_not_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alpha = make_rpm(tmp_path / "a", "alpha")
    beta = make_rpm(tmp_path / "b", "beta")
    assert (
        main(["publish", "--repo", str(tmp_path / "r1"), "--target", "local", str(beta)], env=key_env()) == 0
    )
    (beta_row,) = list_published(tmp_path / "r1")
    assert beta_row.sbom is not None
    wrong = alpha.with_name(alpha.name.removesuffix(".rpm") + ".cdx.json")
    wrong.write_text(beta_row.sbom.read_text())  # beta's SBOM, named as alpha's
    assert (
        main(["publish", "--repo", str(tmp_path / "r2"), "--target", "local", str(alpha)], env=key_env()) == 0
    )
    (row,) = list_published(tmp_path / "r2")
    assert row.sbom is not None
    assert json.loads(row.sbom.read_text())["metadata"]["component"]["name"] == "alpha"


def test_file_digests_are_labelled_with_the_algorithm_the_rpm_used(tmp_path: Path) -> None:
    """rpm older than 4.6 and some builders write md5 file digests: the SBOM says so."""
    top = tmp_path / "rpmbuild"
    spec = tmp_path / "old.spec"
    spec.write_text(
        "Name: old\nVersion: 1.0\nRelease: 1\nSummary: old\nLicense: MIT\nBuildArch: noarch\n"
        "%description\nold\n%install\nmkdir -p %{buildroot}/usr/share/old\n"
        "echo hi > %{buildroot}/usr/share/old/file\n%files\n/usr/share/old/file\n"
    )
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", "_binary_filedigest_algorithm 1",
         "--define", "_build_id_links none", str(spec)],
        check=True, capture_output=True,
    )  # fmt: skip
    (rpm,) = (top / "RPMS" / "noarch").glob("*.rpm")
    _, document = publish_one(rpm, tmp_path / "repo")
    (packaged,) = by_role(document)["packaged file"]
    assert packaged["hashes"] == [{"alg": "MD5", "content": hashlib.md5(b"hi\n").hexdigest()}]
