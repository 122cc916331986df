#!/bin/bash
set -euo pipefail
# Install supervisor from its sdist (setup.py at the top of $PKGRUN_SRCDIR) into
# $PKGRUN_DESTDIR with prefix /usr, for the target's system Python:
#   supervisor 3.x  Python 2 only (el7: /usr/bin/python2, meld3 from python-meld3 at run time)
#   supervisor 4.x  Python 3 (el8, el9, local), meld3 bundled
# Result: /usr/bin/supervisord, /usr/bin/supervisorctl, /usr/bin/pidproxy,
# /usr/bin/echo_supervisord_conf and the supervisor package in the system site directory.
# pkgrun adds /etc/supervisord.conf, /etc/supervisord.d/*.ini and the systemd unit afterwards.

: "${PKGRUN_VERSION:?}" "${PKGRUN_SRCDIR:?}" "${PKGRUN_DESTDIR:?}"
dest=$PKGRUN_DESTDIR
major=${PKGRUN_VERSION%%.*}

cd "$PKGRUN_SRCDIR"

# The system interpreter, by absolute path first: the installed scripts' #! line names the
# interpreter that installed them, and it must be the one the package requires.
first_python() {
    local c
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}
if [ "$major" -ge 4 ]; then
    PY=$(first_python /usr/bin/python3 python3 /usr/bin/python2 /usr/bin/python python2 python) || PY=
else
    PY=$(first_python /usr/bin/python2 /usr/bin/python python2 python) || PY=
fi
if [ -z "$PY" ]; then
    echo "build.sh: no Python interpreter for supervisor $PKGRUN_VERSION" >&2
    exit 1
fi
echo "build.sh: supervisor $PKGRUN_VERSION with $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

# Debian's Python installs --prefix /usr into /usr/local/... unless the deb_system layout is
# asked for; with it, the package lands in /usr/lib/python3/dist-packages and the scripts in
# /usr/bin. Other distributions' Pythons ignore this variable.
export DEB_PYTHON_INSTALL_LAYOUT=deb_system
# Installed without byte-compiling: pip and setuptools would compile with the staging path
# ($PKGRUN_DESTDIR/usr/lib/...) written into every .pyc, which points nowhere once installed
# (pkgrun refuses such a package, as rpmbuild's check-buildroot does). Compiled below, with the
# installed path. The package then owns the .pyc files instead of supervisord leaving unowned
# ones behind at its first start.

# pip when the interpreter has one that can build offline without isolation (pip >= 10;
# Rocky 8's pip 9 cannot), otherwise setuptools directly.
pip_help=$("$PY" -m pip install --help 2>/dev/null) || pip_help=
if [[ $pip_help == *--no-build-isolation* ]]; then
    "$PY" -m pip install --no-deps --no-index --no-build-isolation --no-cache-dir --no-compile \
        --disable-pip-version-check --root "$dest" --prefix /usr .
else
    "$PY" setup.py install --root "$dest" --prefix /usr --single-version-externally-managed --no-compile
fi

# Check the layout: the programs in /usr/bin, the code in a directory the system Python
# searches (/usr/lib/pythonX.Y/site-packages, /usr/lib/python3/dist-packages).
for prog in supervisord supervisorctl; do
    if [ ! -x "$dest/usr/bin/$prog" ]; then
        echo "build.sh: $dest/usr/bin/$prog was not installed; what was:" >&2
        find "$dest" -name "$prog" >&2 || true
        exit 1
    fi
done
site=
for libdir in "$dest/usr/lib" "$dest/usr/lib64"; do
    for d in "$libdir"/python*/site-packages/supervisor "$libdir"/python*/dist-packages/supervisor; do
        # (no __init__.py test: supervisor 3.x is a namespace package, installed as a
        # directory without __init__.py plus a supervisor-*-nspkg.pth file)
        if [ -z "$site" ] && [ -f "$d/supervisord.py" ]; then
            site=$d
        fi
    done
done
if [ -z "$site" ]; then
    echo "build.sh: the supervisor package is not in a site directory under $dest/usr/lib*" >&2
    exit 1
fi
echo "build.sh: installed into ${site#"$dest"}"

# Byte-compile with the path the files will have once installed (-d), whatever the environment
# says (PYTHONDONTWRITEBYTECODE); compileall's -d works on Python 2 and 3 alike.
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q -f -d "${site#"$dest"}" "$site" >/dev/null

# pip records the build directory as the origin (direct_url.json) and itself as INSTALLER;
# the package manager owns these files now (the convention of PEP 627 and Fedora's macros).
for distinfo in "$(dirname "$site")"/supervisor-*.dist-info; do
    if [ -d "$distinfo" ]; then
        rm -f "$distinfo/direct_url.json"
        if [ -f "$distinfo/RECORD" ]; then
            sed -i '/\/direct_url\.json,/d' "$distinfo/RECORD"
        fi
        echo rpm >"$distinfo/INSTALLER"
    fi
done

# A smoke test against the staged code: `supervisord --version` with the staged site
# directory first on sys.path, added as a site directory so that supervisor 3.x's
# *-nspkg.pth is read. supervisor 3.x needs meld3, a run-time requirement only, so a failure
# is reported, not fatal. PYTHONDONTWRITEBYTECODE: the test adds no .pyc to the tree.
PYTHONDONTWRITEBYTECODE=1 "$PY" -c '
import site, sys
d = sys.argv[1]
site.addsitedir(d)
sys.path.remove(d)
sys.path.insert(0, d)
sys.argv = ["supervisord", "--version"]
from supervisor.supervisord import main
main()
' "$(dirname "$site")" ||
    echo "build.sh: warning: staged supervisord --version failed (missing run-time modules?)" >&2
