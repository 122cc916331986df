"""`pkgrun image`: the seed's runtime image (nginx, php-fpm and supervisor) built from the
published packages.

On el targets yum/dnf installs the three packages by their exact NEVRAs from a copy of the
repository, with pkgrun's .repo settings (priority, module_hotfixes) beside the image's own
repositories, resolving their dependencies from the distribution; on `local`, whose
dependencies are Debian packages, the image starts from the runtime image with those libraries
and rpm installs the newest published RPMs without dependency checks. Either way each installed
package is then checked to be the NEVRA pkgrun published.
"""

from __future__ import annotations

import json
import shlex
import shutil
import string
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pkgrun.build.plan import BuildPlan
from pkgrun.engine import images
from pkgrun.engine.container import Engine, build_image_from, image_id
from pkgrun.errors import PkgrunError
from pkgrun.install.byname import NEVRA_FORMAT
from pkgrun.repo.data import newest_release
from pkgrun.report import Reporter
from pkgrun.rpm.query import read_rpm
from pkgrun.targets import RuntimeDeps, Target
from pkgrun.trust.signing import KEY_FILE

PACKAGES = ("nginx", "php", "supervisor")
REPO_IN_IMAGE = "/tmp/pkgrun-repo"


@dataclass(frozen=True)
class RuntimeImage:
    tag: str
    image_id: str
    packages: list[str]  # the RPM files installed


def default_tag(target: Target) -> str:
    return f"localhost/pkgrun-lnmp:{target.dist}"


# After the install: each package installed must be the very one pkgrun published ($@: the
# NEVRAs, name-epoch:version-release.arch); another repository's package of the name fails
# the image, saying which landed.
_CHECK_NEVRAS = r"""
status=0
for want in "$@"; do
    name=${want%-*}; name=${name%-*}
    got=$(rpm -q --qf 'NEVRA_FORMAT' "$name") || true
    if [ "$got" != "$want" ]; then
        echo "pkgrun image: $name is $got, not pkgrun's $want: another repository's package won" >&2
        status=1
    fi
done
[ "$status" -eq 0 ]
""".replace("NEVRA_FORMAT", NEVRA_FORMAT)


def install_command(target: Target, rpms: Mapping[str, str], signed: bool) -> list[str]:
    """The RUN of the Containerfile (exec form, packages as arguments). ``rpms``: file name ->
    NEVRA of each package; yum/dnf installs exactly those NEVRAs from pkgrun's repository (with
    its .repo settings, beside the image's own repositories), rpm the files; then each NEVRA
    is checked. ``signed``: the repository is, and the image installs only what carries its
    key's signature."""
    key = f"{REPO_IN_IMAGE}/{KEY_FILE}"
    nevras = list(rpms.values())
    if target.runtime_deps is RuntimeDeps.PREINSTALLED:
        # rpm 4.14+ (the local image's) refuses an unsigned or badly signed package at this level
        verify = " --define '_pkgverify_level signature'" if signed else ""
        files = " ".join(f"{REPO_IN_IMAGE}/{shlex.quote(name)}" for name in rpms)
        lines = [f"rpm --import {key}"] if signed else []
        lines += [f"rpm -i --nodeps{verify} {files}", _CHECK_NEVRAS.strip(), f"rm -rf {REPO_IN_IMAGE}"]
        return ["sh", "-c", "set -e\n" + "\n".join(lines), "sh", *nevras]
    checks = f"gpgcheck=1\\nrepo_gpgcheck=1\\ngpgkey=file://{key}\\n" if signed else "gpgcheck=0\\n"
    settings = "".join(f"{line}\\n" for line in target.repo_settings)
    repo_file = f"[pkgrun]\\nname=pkgrun\\nbaseurl=file://{REPO_IN_IMAGE}\\n{checks}{settings}"
    lines = [
        f"printf '{repo_file}' > /etc/yum.repos.d/pkgrun.repo",
        f'{" ".join(target.install_rpm)} "$@"',
        _CHECK_NEVRAS.strip(),
        f"rm -f /etc/yum.repos.d/pkgrun.repo && yum clean all && rm -rf {REPO_IN_IMAGE}",
    ]
    return ["sh", "-c", "set -e\n" + "\n".join(lines), "sh", *nevras]


def containerfile(base: str, install: Sequence[str]) -> str:
    template = resources.files("pkgrun").joinpath("image", "Containerfile.in").read_text()
    return string.Template(template).substitute(base=base, install=json.dumps(list(install)))


def newest_published(repo_root: Path, target: Target) -> dict[str, Path]:
    newest = {}
    for name in PACKAGES:
        newest_path = newest_release(repo_root, target.dist, name)
        if newest_path is None:
            raise PkgrunError(
                f"{name} is not published for {target.name} in {repo_root}",
                hint=f"build and publish first: make rpms TARGET={target.name} (MIRROR=DIR offline)",
            )
        newest[name] = newest_path
    return newest


def build_runtime_image(
    engine: Engine,
    target: Target,
    plans: Sequence[BuildPlan],
    *,
    repo_root: Path,
    tag: str,
    log: Path,
    reporter: Reporter,
) -> RuntimeImage:
    """``plans``: the three recipes' plans for ``target`` (their runtime requirements)."""
    newest = newest_published(repo_root, target)
    base = images.ensure_base_image(
        engine, target, target.runtime_containerfile, log=log, reporter=reporter, recipe="image"
    )
    if target.runtime_deps is RuntimeDeps.PREINSTALLED:
        requirements = sorted({"rpm", *(r.split()[0] for plan in plans for r in plan.requires)})
        base = images.ensure_build_image(
            engine,
            target,
            target.runtime_containerfile,
            base,
            requirements,
            log=log,
            reporter=reporter,
            recipe="image",
            kind="runtime",
        )
    nevras = {path.name: read_rpm(path).nevra for path in newest.values()}
    with tempfile.TemporaryDirectory(prefix="pkgrun-image-") as tmp:
        context = Path(tmp)
        if target.runtime_deps is RuntimeDeps.PREINSTALLED:
            (context / "repo").mkdir()
            for path in newest.values():
                shutil.copyfile(path, context / "repo" / path.name)
        else:
            arch_dir = next(iter(newest.values())).parent
            shutil.copytree(arch_dir, context / "repo", ignore=shutil.ignore_patterns(".*"))
        key = repo_root / target.dist / KEY_FILE
        if key.is_file():  # a signed repository: the image checks what it installs
            shutil.copyfile(key, context / "repo" / KEY_FILE)
        index = resources.files("pkgrun").joinpath("image", "index.php").read_bytes()
        (context / "index.php").write_bytes(index)
        (context / "Containerfile").write_text(
            containerfile(base, install_command(target, nevras, key.is_file()))
        )
        with reporter.step("image", f"build {tag} from {', '.join(p.name for p in newest.values())}"):
            build_image_from(
                engine,
                tag,
                context,
                log=log,
                hint="see the log; el targets need their repositories to resolve dependencies",
            )
    built = image_id(engine, tag)
    if built is None:
        raise PkgrunError(f"the engine built no {tag}", hint=f"see {log}")
    return RuntimeImage(tag, built, [p.name for p in newest.values()])
