"""Trust: signing with gpg and rpmsign, SBOMs with cyclonedx-python-lib, and the facts an RPM
file alone gives for one. Imports rpm and the base."""
