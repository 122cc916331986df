#!/bin/bash
# alpha's package is installed in this container: use its program
test -x /usr/bin/alpha
install -D -m 0755 hello.sh "$PKGRUN_DESTDIR/usr/bin/beta"
mkdir -p "$PKGRUN_DESTDIR/usr/share/beta"
/usr/bin/alpha "beta, built with alpha" > "$PKGRUN_DESTDIR/usr/share/beta/greeting"
