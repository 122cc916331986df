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

from pkgrun import __version__

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
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    def sha(value: str) -> list[HashType]:
        return [HashType(alg=HashAlgorithm.SHA_256, content=value)] if value else []

    def role(value: str, *more: Property) -> list[Property]:
        return [Property(name="pkgrun:role", value=value), *more]

    purl = PackageURL(
        "rpm",
        "pkgrun",
        facts.name,
        f"{facts.version}-{facts.release}",
        {"arch": facts.arch, "epoch": str(facts.epoch), "distro": facts.dist},
    )
    package = Component(
        type=ComponentType.APPLICATION,
        name=facts.name,
        version=f"{facts.version}-{facts.release}",
        description=facts.summary,
        bom_ref=facts.nevra,
        purl=purl,
        supplier=OrganizationalEntity(name=facts.supplier) if facts.supplier else None,
        licenses=[LicenseFactory().make_from_string(facts.license)] if facts.license else [],
        hashes=sha(facts.rpm_sha256),
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
    components: list[Component] = []
    if facts.source_file:
        references = []
        if facts.source_url:
            references.append(
                ExternalReference(
                    type=ExternalReferenceType.DISTRIBUTION,
                    url=XsUri(facts.source_url),
                    hashes=sha(facts.source_sha256),
                )
            )
        components.append(
            Component(
                type=ComponentType.FILE,
                name=facts.source_file,
                version=facts.version,
                bom_ref=f"source:{facts.source_file}",
                hashes=sha(facts.source_sha256),
                external_references=references,
                properties=role("upstream source"),
            )
        )
    runtime = []
    for requirement in facts.requires:
        name, _, constraint = requirement.partition(" ")
        component = Component(
            type=ComponentType.LIBRARY,
            name=name,
            bom_ref=f"requires:{requirement}",
            scope=ComponentScope.REQUIRED,
            properties=role(
                "runtime requirement",
                *([Property(name="pkgrun:constraint", value=constraint)] if constraint else []),
            ),
        )
        runtime.append(component)
    components += runtime
    components += [
        Component(
            type=ComponentType.LIBRARY,
            name=name,
            version=version,
            bom_ref=f"build:{name}",
            purl=PackageURL(facts.package_type, None, name, version),
            scope=ComponentScope.EXCLUDED,
            properties=role("build-time package"),
        )
        for name, version in facts.build_packages
    ]
    components += [
        Component(
            type=ComponentType.FILE,
            name=f"recipe/{path}",
            bom_ref=f"recipe:{path}",
            hashes=sha(digest if not digest.startswith("-> ") else ""),
            scope=ComponentScope.EXCLUDED,
            properties=role("recipe file"),
        )
        for path, digest in sorted(facts.recipe_files.items())
    ]
    components += [
        Component(
            type=ComponentType.FILE,
            name=f.path,
            bom_ref=f"file:{f.path}",
            hashes=[HashType(alg=HashAlgorithm(facts.file_digests), content=f.sha256)] if f.sha256 else [],
            properties=role("packaged file", Property(name="pkgrun:mode", value=f.mode)),
        )
        for f in facts.files
    ]
    bom.components.update(components)
    bom.register_dependency(package, runtime)
    for component in components:
        bom.register_dependency(component)
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
