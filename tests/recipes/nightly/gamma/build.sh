#!/bin/bash
install -D -m 0755 hello.sh "$PKGRUN_DESTDIR/usr/bin/gamma"
mkdir -p "$PKGRUN_DESTDIR/usr/share/gamma"
sh hello.sh gamma > "$PKGRUN_DESTDIR/usr/share/gamma/greeting"
