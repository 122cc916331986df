"""An SBOM for every RPM: CycloneDX JSON (1.6), made with cyclonedx-python-lib, the format's own
library, never hand-written JSON. It lists what a package is and what made it:

- the package: NEVRA (as a purl), license, url, supplier, and the sha256 of its header and
  payload (the RPM file without its lead and signature, which signing, or signing again with
  another key, never changes; `pkgrun rebuild` compares the same digest);
- the upstream source: its url, version, file name and sha256;
- the build-time packages with their exact versions, as the build image had them;
- the runtime requirements, as the RPM states them;
- the recipe's own files, with their sha256;
- every file in the RPM, with its sha256.

The document is deterministic: its serial number derives from the package's digest and its
timestamp is the build's SOURCE_DATE_EPOCH. A package pkgrun did not build (published from a
file) gets a document with what its RPM says, and a property that says the rest is unknown.
The library is imported here only, when an SBOM is made or read (it takes a tenth of a second
to import).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pkgrun import __version__

if TYPE_CHECKING:  # the library is imported when an SBOM is made, not with this module
    from cyclonedx.model import HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component

SUFFIX = ".cdx.json"
NAMESPACE = uuid.UUID("3d1c8f0e-5f4b-4c59-9d55-9a8e1d7c2b10")  # pkgrun's, for serial numbers


@dataclass(frozen=True)
class PackageFile:
    path: str
    sha256: str  # "" for directories and links
    mode: str


@dataclass(frozen=True)
class SbomFacts:
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    dist: str
    license: str
    url: str
    supplier: str
    summary: str
    rpm_sha256: str
    requires: Sequence[str]
    files: Sequence[PackageFile]
    source_file: str = ""
    source_sha256: str = ""
    source_url: str | None = None
    build_packages: Sequence[tuple[str, str]] = ()  # (name, exact version) from the build image
    package_type: str = "rpm"  # the purl type of the build image's packages: rpm or deb
    recipe_files: Mapping[str, str] = field(default_factory=dict)  # path -> sha256
    epoch_time: int = 0  # SOURCE_DATE_EPOCH
    file_digests: str = "SHA-256"  # the algorithm of the files' digests (CycloneDX's name)
    built_by_pkgrun: bool = True  # False: published from a file; source, build and recipe unknown

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"


def file_name(rpm_name: str) -> str:
    """The SBOM's file name beside the RPM's: name-version-release.arch.cdx.json."""
    return rpm_name.removesuffix(".rpm") + SUFFIX


def make_sbom(facts: SbomFacts) -> str:
    """The CycloneDX JSON document for ``facts``."""
    package = _package(facts)
    bom = _bom(facts, package)
    runtime = _runtime_requirements(facts)
    components = [
        *_upstream_source(facts),
        *runtime,
        *_build_packages(facts),
        *_recipe_files(facts),
        *_packaged_files(facts),
    ]
    _add_components(bom, package, runtime, components)
    return _validated_json(bom)


def _hashes(sha256: str) -> list[HashType]:
    from cyclonedx.model import HashAlgorithm, HashType

    return [HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else []


def _role(value: str, *more: Property) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name="pkgrun:role", value=value), *more]


def _package(facts: SbomFacts) -> Component:
    """The package itself, the document's subject: its purl, license, supplier and content digest."""
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import ExternalReference, ExternalReferenceType, Property, XsUri
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity
    from packageurl import PackageURL

    purl = PackageURL(
        "rpm",
        "pkgrun",
        facts.name,
        f"{facts.version}-{facts.release}",
        {"arch": facts.arch, "epoch": str(facts.epoch), "distro": facts.dist},
    )
    return Component(
        type=ComponentType.APPLICATION,
        name=facts.name,
        version=f"{facts.version}-{facts.release}",
        description=facts.summary,
        bom_ref=facts.nevra,
        purl=purl,
        supplier=OrganizationalEntity(name=facts.supplier) if facts.supplier else None,
        licenses=[LicenseFactory().make_from_string(facts.license)] if facts.license else [],
        hashes=_hashes(facts.rpm_sha256),
        external_references=(
            [ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(facts.url))] if facts.url else []
        ),
        properties=[
            Property(
                name="pkgrun:sha256-of",
                value="the RPM's header and payload: the file without its lead and signature",
            )
        ],
    )


def _bom(facts: SbomFacts, package: Component) -> Bom:
    """An empty document about ``package``: its serial number derived from the package's digest,
    the build's time (or, for a package pkgrun did not build, a word that the rest is unknown),
    and pkgrun as the tool that made it."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType

    bom = Bom(serial_number=uuid.uuid5(NAMESPACE, f"{facts.nevra}:{facts.rpm_sha256}"), version=1)
    bom.metadata.component = package
    if facts.built_by_pkgrun:
        bom.metadata.timestamp = datetime.fromtimestamp(facts.epoch_time, tz=UTC)
    else:
        bom.metadata.properties.add(
            Property(
                name="pkgrun:origin",
                value="published from a file pkgrun did not build: its source, build-time packages "
                "and recipe are unknown",
            )
        )
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="pkgrun", version=__version__)
    )
    return bom


def _upstream_source(facts: SbomFacts) -> list[Component]:
    """The upstream source file, with where it was fetched from (none when the recipe has none)."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri
    from cyclonedx.model.component import Component, ComponentType

    if not facts.source_file:
        return []
    references = []
    if facts.source_url:
        references.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION,
                url=XsUri(facts.source_url),
                hashes=_hashes(facts.source_sha256),
            )
        )
    source = Component(
        type=ComponentType.FILE,
        name=facts.source_file,
        version=facts.version,
        bom_ref=f"source:{facts.source_file}",
        hashes=_hashes(facts.source_sha256),
        external_references=references,
        properties=_role("upstream source"),
    )
    return [source]


def _runtime_requirements(facts: SbomFacts) -> list[Component]:
    """What the RPM requires, each with its version constraint when it has one."""
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentScope, ComponentType

    runtime = []
    for requirement in facts.requires:
        name, _, constraint = requirement.partition(" ")
        component = Component(
            type=ComponentType.LIBRARY,
            name=name,
            bom_ref=f"requires:{requirement}",
            scope=ComponentScope.REQUIRED,
            properties=_role(
                "runtime requirement",
                *([Property(name="pkgrun:constraint", value=constraint)] if constraint else []),
            ),
        )
        runtime.append(component)
    return runtime


def _build_packages(facts: SbomFacts) -> list[Component]:
    """The build image's packages, with their exact versions."""
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from packageurl import PackageURL

    return [
        Component(
            type=ComponentType.LIBRARY,
            name=name,
            version=version,
            bom_ref=f"build:{name}",
            purl=PackageURL(facts.package_type, None, name, version),
            scope=ComponentScope.EXCLUDED,
            properties=_role("build-time package"),
        )
        for name, version in facts.build_packages
    ]


def _recipe_files(facts: SbomFacts) -> list[Component]:
    """The recipe's files, with their sha256 (none for a link, recorded as "-> target")."""
    from cyclonedx.model.component import Component, ComponentScope, ComponentType

    return [
        Component(
            type=ComponentType.FILE,
            name=f"recipe/{path}",
            bom_ref=f"recipe:{path}",
            hashes=_hashes(digest if not digest.startswith("-> ") else ""),
            scope=ComponentScope.EXCLUDED,
            properties=_role("recipe file"),
        )
        for path, digest in sorted(facts.recipe_files.items())
    ]


def _packaged_files(facts: SbomFacts) -> list[Component]:
    """Every file in the RPM, with its mode and its digest in the RPM's own algorithm."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType

    return [
        Component(
            type=ComponentType.FILE,
            name=f.path,
            bom_ref=f"file:{f.path}",
            hashes=[HashType(alg=HashAlgorithm(facts.file_digests), content=f.sha256)] if f.sha256 else [],
            properties=_role("packaged file", Property(name="pkgrun:mode", value=f.mode)),
        )
        for f in facts.files
    ]


def _add_components(
    bom: Bom, package: Component, runtime: list[Component], components: list[Component]
) -> None:
    """Add ``components`` to ``bom`` with the dependency graph: the package depends on its runtime
    requirements; every other component has an entry of its own that depends on nothing."""
    bom.components.update(components)
    bom.register_dependency(package, runtime)
    for component in components:
        bom.register_dependency(component)


def _validated_json(bom: Bom) -> str:
    """``bom`` as CycloneDX 1.6 JSON, once the library has checked its references."""
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    with warnings.catch_warnings():
        # a package that requires nothing has no dependencies, which the library warns about
        warnings.filterwarnings("ignore", message=".*has no defined dependencies", category=UserWarning)
        bom.validate()
        return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(indent=1)


def describes(text: str, digest: str) -> bool:
    """Whether the SBOM ``text`` is about the package whose content digest is ``digest``."""
    import json

    try:
        component = json.loads(text)["metadata"]["component"]
        return any(h.get("alg") == "SHA-256" and h.get("content") == digest for h in component["hashes"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def validation_errors(text: str) -> list[str]:
    """What CycloneDX 1.6's JSON schema finds wrong in ``text`` (the library's strict validator)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(e) for e in errors] if errors else []
