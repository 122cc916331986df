"""Signing what pkgrun publishes, with GnuPG and rpmsign on this host (the private key never
enters a container): every RPM (an RSA key and a SHA-256 digest, which CentOS 7's rpm verifies),
the repository's repomd.xml (a detached, armored repomd.xml.asc), and the public key beside the
repository for servers to import.

The key is an existing GnuPG key (``[sign] key`` in pkgrun.toml, ``--sign-key``,
``$PKGRUN_SIGN_KEY``; in ``$GNUPGHOME`` or ``[sign] gnupg-home``), or the one ``pkgrun key init``
makes in pkgrun's state directory (mode 0700, no passphrase: a nightly job signs unattended).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pkgrun.errors import PkgrunError, UsageError
from pkgrun.run import find_tool, run
from pkgrun.targets import Target

KEY_FILE = "RPM-GPG-KEY-pkgrun"  # the public key, beside each distribution's repository
GPG_HINT = "install gnupg and rpm (Debian/Ubuntu: apt-get install gnupg rpm)"


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str  # the primary key's
    gnupg_home: Path | None = None  # None: gpg's own default ($GNUPGHOME, ~/.gnupg)
    # the fingerprints of the key and subkeys that can sign; gpg signs with the newest of them,
    # and rpm records that one's ID (an organisation's key usually signs with a subkey)
    signing_fingerprints: tuple[str, ...] = ()
    # sign with the primary key itself, never a subkey (gpg's "FINGERPRINT!")
    primary_only: bool = False

    @property
    def signer(self) -> str:
        """How gpg is told which key signs."""
        return f"{self.fingerprint}!" if self.primary_only else self.fingerprint

    @property
    def key_id(self) -> str:
        """The primary key's long ID: the fingerprint's last 16 hex digits."""
        return self.fingerprint[-16:].lower()

    @property
    def signer_ids(self) -> frozenset[str]:
        """The IDs a signature made with this key can carry."""
        return frozenset(f[-16:].lower() for f in self.signing_fingerprints or (self.fingerprint,))

    def made(self, signer: str | None) -> bool:
        """Whether a signature by ``signer`` (a long key ID) was made with this key."""
        return signer is not None and signer.lower() in self.signer_ids

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
        "--define", f"_gpg_name {key.signer}",
        "--define", "_gpg_digest_algo sha256",
        # unattended: a key whose passphrase gpg-agent does not hold fails instead of prompting
        "--define", "_gpg_sign_cmd_extra_args --batch --pinentry-mode error",
        *map(str, rpms),
    ]  # fmt: skip


def detach_sign_argv(key: SigningKey, file: Path, signature: Path) -> list[str]:
    return [
        "gpg", "--batch", "--yes", "--pinentry-mode", "error",
        "--local-user", key.signer, "--digest-algo", "SHA256",
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


def own_key(state_dir: Path) -> SigningKey | None:
    """pkgrun's own key, if ``pkgrun key init`` made one."""
    home = own_gnupg_home(state_dir)
    if not home.is_dir():
        return None
    fit_sockets(home)
    return find_secret_key(home)


def init_key(state_dir: Path, user_id: str) -> SigningKey:
    """pkgrun's own key in its state directory, made if there is none yet."""
    existing = own_key(state_dir)
    if existing:
        return existing
    home = own_gnupg_home(state_dir)
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    fit_sockets(home)
    run(generate_argv(user_id), env={"GNUPGHOME": str(home)}, hint=GPG_HINT)
    made = find_secret_key(home)
    if made is None:
        raise SigningFailed(f"gpg made no key in {home}", hint=GPG_HINT)
    return made


def secret_keys(home: Path | None, wanted: str | None = None) -> list[SigningKey]:
    """The usable secret keys in ``home`` (those ``wanted`` names: an ID, fingerprint or user ID)
    that can sign, with their signing subkeys."""
    argv = ["gpg", "--batch", "--with-colons", "--list-secret-keys", *([wanted] if wanted else [])]
    result = run(argv, env={"GNUPGHOME": str(home)} if home else None, check=False, hint=GPG_HINT)
    if result.returncode != 0 and home is not None and _too_deep(home) and _redirected_to(home) is None:
        raise SigningFailed(
            f"gpg cannot start its agent for the GnuPG home {home}: the paths of its sockets there "
            f"are longer than a Unix socket's {SOCKET_PATH_MAX} bytes",
            hint="use a GnuPG home with a shorter path (GNUPGHOME, [sign] gnupg-home), or one where "
            "/run/user/UID exists (a login session)",
        )
    if result.returncode != 0:
        return []
    # a key ("sec") or subkey ("ssb") line, then its fingerprint ("fpr"); field 2 is its validity
    # (e: expired, r: revoked, d: disabled, i: invalid), field 12 its capabilities (s: signs)
    found: list[tuple[str, list[str]]] = []
    pending: tuple[str, bool] | None = None
    for line in result.stdout.splitlines():
        fields = line.split(":")
        if fields[0] in ("sec", "ssb") and len(fields) > 11:
            usable = fields[1] not in ("e", "r", "d", "i") and "s" in fields[11]
            pending = (fields[0], usable)
        elif fields[0] == "fpr" and pending is not None and len(fields) > 9:
            kind, usable = pending
            if kind == "sec":
                found.append((fields[9], [fields[9]] if usable else []))
            elif found and usable:
                found[-1][1].append(fields[9])
            pending = None
    return [SigningKey(primary, home, tuple(signing)) for primary, signing in found if signing]


def for_targets(key: SigningKey, targets: Sequence[Target]) -> SigningKey:
    """``key`` as it must sign for ``targets``: with its primary key itself where a target's rpm
    verifies against primary keys only (el7), refused before any work when that cannot sign."""
    strict = [t.name for t in targets if t.primary_key_only]
    if not strict:
        return key
    if key.fingerprint not in key.signing_fingerprints:
        raise UsageError(
            f"key {key.fingerprint} signs through a subkey only, and {', '.join(strict)}'s rpm (4.11) "
            "verifies signatures against primary keys only: its servers would refuse every package",
            hint="sign with a key whose primary key can sign (gpg --quick-generate-key ID rsa4096 sign), "
            "or add the sign capability to this key's primary key (gpg --edit-key, change-usage)",
        )
    return replace(key, signing_fingerprints=(key.fingerprint,), primary_only=True)


def find_secret_key(home: Path | None, wanted: str | None = None) -> SigningKey | None:
    """The one secret key ``wanted`` names in ``home`` (or its only one when none is named);
    None when there is none, an error when the choice is not clear."""
    keys = secret_keys(home, wanted)
    if len(keys) > 1:
        where = home or "gpg's default home"
        what = f"{wanted!r} names" if wanted else f"{where} holds"
        raise UsageError(
            f"{what} {len(keys)} secret keys that can sign: " + ", ".join(k.fingerprint for k in keys),
            hint="name one by its fingerprint ([sign] key in pkgrun.toml, --sign-key, $PKGRUN_SIGN_KEY)",
        )
    return keys[0] if keys else None


def resolve_key(wanted: str | None, gnupg_home: Path | None, state_dir: Path) -> SigningKey | None:
    """The key the settings name, or pkgrun's own if it made one; None when there is none."""
    if wanted:
        key = find_secret_key(gnupg_home, wanted)
        if key is None:
            where = gnupg_home or "gpg's default home"
            raise UsageError(
                f"no secret key {wanted!r} in {where}",
                hint="give an existing key's ID or fingerprint ([sign] key, --sign-key), or make "
                "pkgrun's own: pkgrun key init",
            )
        return key
    return own_key(state_dir)


# --- gpg-agent's sockets -----------------------------------------------------------------------------

# the sockets gpg and its agent make in a GnuPG home (gpgconf --list-dirs)
_SOCKETS = (
    "S.gpg-agent", "S.gpg-agent.browser", "S.gpg-agent.extra", "S.gpg-agent.ssh",
    "S.keyboxd", "S.dirmngr", "S.scdaemon",
)  # fmt: skip
SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sockaddr_un.sun_path holds 108 with the NUL)


def socket_dir(home: Path) -> Path:
    """Where the sockets of a GnuPG home too deep for them go: a private directory of this user
    under the temporary directory, one per home."""
    digest = hashlib.sha256(os.fsencode(home.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pkgrun-gnupg-{os.getuid()}-{digest}"


def _too_deep(home: Path, run_user: Path | None = None) -> bool:
    """Whether gpg-agent's sockets would be made in ``home`` and not fit there."""
    if max(len(os.fsencode(home.absolute() / name)) for name in _SOCKETS) <= SOCKET_PATH_MAX:
        return False
    return not (run_user or Path(f"/run/user/{os.getuid()}")).is_dir()  # gpgconf --list-dirs socketdir


def fit_sockets(home: Path, run_user: Path | None = None) -> None:
    """gpg-agent makes its sockets in the GnuPG home unless /run/user/UID exists; where their paths
    are longer than a Unix socket's (a deep $HOME, a CI runner's work directory) every gpg call
    fails ("failed to start agent"). There, the home holds GnuPG's redirect files (``%Assuan%``,
    ``socket=PATH``) into a private directory of this user under the temporary directory: the
    one they name while it is private, else socket_dir(home), made again after a reboot emptied
    it, else (someone else made that one first) a new one. ``run_user``: /run/user/UID, where
    gpg puts them when it exists."""
    if not _too_deep(home, run_user):
        return
    sockets = _redirected_to(home)
    if sockets is None or not _private(sockets):
        sockets = socket_dir(home)
        with contextlib.suppress(FileExistsError):
            sockets.mkdir(mode=0o700)
        if not _private(sockets):
            sockets = Path(tempfile.mkdtemp(prefix="pkgrun-gnupg-"))  # mode 0700, its own
    if max(len(os.fsencode(sockets / name)) for name in _SOCKETS) > SOCKET_PATH_MAX:
        raise SigningFailed(
            f"the GnuPG home {home} is too deep for gpg-agent's sockets, and so is {sockets.parent}",
            hint="set XDG_STATE_HOME (pkgrun's key) or TMPDIR to a shorter directory",
        )
    for name in _SOCKETS:
        redirect, text = home / name, f"%Assuan%\nsocket={sockets / name}\n"
        try:
            if redirect.read_text() == text:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        temporary = home / f".{name}.{os.getpid()}.tmp"
        temporary.write_text(text)
        os.replace(temporary, redirect)


def _redirected_to(home: Path) -> Path | None:
    """The directory the home's redirect file for the agent names, if it holds one."""
    try:
        lines = (home / "S.gpg-agent").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 2 or lines[0] != "%Assuan%" or not lines[1].startswith("socket="):
        return None
    return Path(lines[1].removeprefix("socket=")).parent


def _private(directory: Path) -> bool:
    """A directory (not a link) of this user's that no one else can write or read."""
    try:
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


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


def verify_argv(dbpath: Path, rpms: Sequence[Path]) -> list[str]:
    """Check each package's digests and signature against the keys imported into ``dbpath``."""
    return ["rpmkeys", "--dbpath", str(dbpath), "--checksig", "--", *map(str, rpms)]


def verified(key: SigningKey, rpms: Sequence[Path]) -> set[Path]:
    """The packages whose signature rpm verifies with ``key`` (digests included): a signature
    header that only names the key is not enough."""
    import tempfile

    if not rpms:
        return set()
    with tempfile.TemporaryDirectory(prefix="pkgrun-verify-") as tmp:
        (Path(tmp) / "key.asc").write_text(public_key(key))
        db = Path(tmp) / "rpmdb"
        db.mkdir()
        run(["rpmkeys", "--dbpath", str(db), "--import", str(Path(tmp) / "key.asc")], hint=GPG_HINT)
        out = run(verify_argv(db, rpms), check=False, hint=GPG_HINT).stdout.splitlines()
    good = {line.rsplit(": ", 1)[0] for line in out if line.endswith(": digests signatures OK")}
    return {rpm for rpm in rpms if str(rpm) in good}


def sign_rpms(key: SigningKey, rpms: Sequence[Path]) -> list[Path]:
    """Sign, in place, the packages not signed with ``key`` yet (idempotent); the ones signed."""
    todo = [rpm for rpm, signer in signed_by(rpms).items() if not key.made(signer)]
    if todo:
        gpg = find_tool("gpg", hint=GPG_HINT)
        run(rpmsign_argv(key, todo, gpg), env=key.env(), hint=GPG_HINT)
    return todo


def sign_file(key: SigningKey, file: Path, signature: Path) -> None:
    run(detach_sign_argv(key, file, signature), env=key.env(), hint=GPG_HINT)


def check_key(key: SigningKey) -> None:
    """Sign a scrap of text with ``key``, before any work: a key gpg cannot use unattended (a
    passphrase gpg-agent does not hold) fails here, not after the builds."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pkgrun-key-check-") as tmp:
        probe = Path(tmp) / "probe"
        probe.write_text("pkgrun\n")
        result = run(
            detach_sign_argv(key, probe, Path(tmp) / "probe.asc"), env=key.env(), check=False, hint=GPG_HINT
        )
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SigningFailed(
            f"gpg cannot sign with key {key.fingerprint}: {said}",
            hint="pkgrun signs unattended: use a key without a passphrase, or have gpg-agent hold "
            "its passphrase (gpg-preset-passphrase); try: gpg --local-user "
            f"{key.fingerprint} --detach-sign FILE",
        )


def public_key(key: SigningKey) -> str:
    text = run(export_argv(key), env=key.env(), hint=GPG_HINT).stdout
    if "BEGIN PGP PUBLIC KEY BLOCK" not in text:
        raise SigningFailed(f"gpg exported no public key for {key.fingerprint}", hint=GPG_HINT)
    return text
