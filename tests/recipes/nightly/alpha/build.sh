#!/bin/bash
install -D -m 0755 hello.sh "$PKGRUN_DESTDIR/usr/bin/alpha"
mkdir -p "$PKGRUN_DESTDIR/usr/share/alpha"
sh hello.sh alpha > "$PKGRUN_DESTDIR/usr/share/alpha/greeting"
