"""Signing what pkgrun publishes, with GnuPG and rpmsign on this host (the private key never
enters a container): every RPM (an RSA key and a SHA-256 digest, which CentOS 7's rpm verifies),
the repository's repomd.xml (a detached, armored repomd.xml.asc), and the public key beside the
repository for servers to import.

The key is an existing GnuPG key (``[sign] key`` in pkgrun.toml, ``--sign-key``,
``$PKGRUN_SIGN_KEY``; in ``$GNUPGHOME`` or ``[sign] gnupg-home``), or the one ``pkgrun key init``
makes in pkgrun's state directory (mode 0700, no passphrase: a nightly job signs unattended).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pkgrun.errors import PkgrunError, UsageError
from pkgrun.run import find_tool, run

KEY_FILE = "RPM-GPG-KEY-pkgrun"  # the public key, beside each distribution's repository
GPG_HINT = "install gnupg and rpm (Debian/Ubuntu: apt-get install gnupg rpm)"


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str
    gnupg_home: Path | None = None  # None: gpg's own default ($GNUPGHOME, ~/.gnupg)

    @property
    def key_id(self) -> str:
        """The short ID rpm shows in a signature: the fingerprint's last 16 hex digits."""
        return self.fingerprint[-16:].lower()

    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.gnupg_home)} if self.gnupg_home else {}


class SigningFailed(PkgrunError):
    pass


# --- pure argv builders ----------------------------------------------------------------------------


def rpmsign_argv(key: SigningKey, rpms: Sequence[Path], gpg: str = "/usr/bin/gpg") -> list[str]:
    """Sign ``rpms`` in place: RSA over SHA-256, with the header-and-payload signature too
    (--rpmv3), which rpm older than 4.14 (CentOS 7) needs to cover the payload."""
    return [
        "rpmsign", "--addsign", "--rpmv3",
        "--define", f"__gpg {gpg}",  # Debian's macros name gpg2, which bookworm lacks
        "--define", f"_gpg_name {key.fingerprint}",
        "--define", "_gpg_digest_algo sha256",
        *map(str, rpms),
    ]  # fmt: skip


def detach_sign_argv(key: SigningKey, file: Path, signature: Path) -> list[str]:
    return [
        "gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "",
        "--local-user", key.fingerprint, "--digest-algo", "SHA256",
        "--armor", "--detach-sign", "--output", str(signature), str(file),
    ]  # fmt: skip


def export_argv(key: SigningKey) -> list[str]:
    return ["gpg", "--batch", "--armor", "--export", key.fingerprint]


def generate_argv(user_id: str) -> list[str]:
    """An RSA 4096 signing key without a passphrase and without expiry."""
    return [
        "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
        "--quick-generate-key", user_id, "rsa4096", "sign", "never",
    ]  # fmt: skip


def signatures_argv(rpms: Sequence[Path]) -> list[str]:
    """Each package's signature (or "(none)"), one line each, in one rpm process."""
    return ["rpm", "-qp", "--nosignature", "--nodigest", "--qf", "%{RSAHEADER:pgpsig}\\n", *map(str, rpms)]


# --- the key ---------------------------------------------------------------------------------------


def own_gnupg_home(state_dir: Path) -> Path:
    return state_dir / "gnupg"


def init_key(state_dir: Path, user_id: str) -> SigningKey:
    """pkgrun's own key in its state directory, made if there is none yet."""
    home = own_gnupg_home(state_dir)
    existing = find_secret_key(home) if home.is_dir() else None
    if existing:
        return SigningKey(existing, home)
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    run(generate_argv(user_id), env={"GNUPGHOME": str(home)}, hint=GPG_HINT)
    fingerprint = find_secret_key(home)
    if fingerprint is None:
        raise SigningFailed(f"gpg made no key in {home}", hint=GPG_HINT)
    return SigningKey(fingerprint, home)


def find_secret_key(home: Path | None, wanted: str | None = None) -> str | None:
    """The fingerprint of the secret key ``wanted`` (an ID, a fingerprint or a user ID) in
    ``home``, or of its only secret key when none is named."""
    argv = ["gpg", "--batch", "--with-colons", "--list-secret-keys"]
    if wanted:
        argv.append(wanted)
    result = run(argv, env={"GNUPGHOME": str(home)} if home else None, check=False, hint=GPG_HINT)
    if result.returncode != 0:
        return None
    # each key's line ("sec") is followed by its fingerprint ("fpr"), then its subkeys'
    keys, after_sec = [], False
    for line in result.stdout.splitlines():
        if line.startswith("sec:"):
            after_sec = True
        elif line.startswith("fpr:") and after_sec:
            keys.append(line.split(":")[9])
            after_sec = False
    if not keys or (wanted is None and len(keys) != 1):
        return None
    return keys[0]


def resolve_key(wanted: str | None, gnupg_home: Path | None, state_dir: Path) -> SigningKey | None:
    """The key the settings name, or pkgrun's own if it made one; None when there is none."""
    if wanted:
        fingerprint = find_secret_key(gnupg_home, wanted)
        if fingerprint is None:
            where = gnupg_home or "gpg's default home"
            raise UsageError(
                f"no secret key {wanted!r} in {where}",
                hint="give an existing key's ID or fingerprint ([sign] key, --sign-key), or make "
                "pkgrun's own: pkgrun key init",
            )
        return SigningKey(fingerprint, gnupg_home)
    home = own_gnupg_home(state_dir)
    if home.is_dir() and (fingerprint := find_secret_key(home)):
        return SigningKey(fingerprint, home)
    return None


def no_key_error() -> UsageError:
    return UsageError(
        "no signing key: every published package and repomd.xml is signed",
        hint="make pkgrun's own key once with `pkgrun key init`, or name one of yours ([sign] key in "
        "pkgrun.toml, --sign-key, $PKGRUN_SIGN_KEY); to publish unsigned packages, pass --unsigned",
    )


# --- signing ---------------------------------------------------------------------------------------


def signed_by(rpms: Sequence[Path]) -> dict[Path, str | None]:
    """The key ID each package is signed with, or None."""
    if not rpms:
        return {}
    out = run(signatures_argv(rpms), hint=GPG_HINT).stdout.splitlines()
    found: dict[Path, str | None] = {}
    for rpm, line in zip(rpms, out, strict=False):
        match = re.search(r"Key ID ([0-9a-f]+)", line)
        found[rpm] = match.group(1) if match else None
    return found


def sign_rpms(key: SigningKey, rpms: Sequence[Path]) -> list[Path]:
    """Sign, in place, the packages not signed with ``key`` yet (idempotent); the ones signed."""
    todo = [rpm for rpm, signer in signed_by(rpms).items() if signer != key.key_id]
    if todo:
        gpg = find_tool("gpg", hint=GPG_HINT)
        run(rpmsign_argv(key, todo, gpg), env=key.env(), hint=GPG_HINT)
    return todo


def sign_file(key: SigningKey, file: Path, signature: Path) -> None:
    run(detach_sign_argv(key, file, signature), env=key.env(), hint=GPG_HINT)


def public_key(key: SigningKey) -> str:
    text = run(export_argv(key), env=key.env(), hint=GPG_HINT).stdout
    if "BEGIN PGP PUBLIC KEY BLOCK" not in text:
        raise SigningFailed(f"gpg exported no public key for {key.fingerprint}", hint=GPG_HINT)
    return text
