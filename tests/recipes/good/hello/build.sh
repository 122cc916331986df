#!/bin/bash
# Runs in the unpacked source with the PKGRUN_* variables set.
install -D -m 0755 hello.sh "$PKGRUN_DESTDIR/usr/bin/hello"
install -D -m 0644 hello.conf "$PKGRUN_DESTDIR/etc/hello/hello.conf"
ln -s hello "$PKGRUN_DESTDIR/usr/bin/hi"
# what the build saw of its environment, for the tests to read back
mkdir -p "$PKGRUN_DESTDIR/usr/share/hello"
echo "$PKGRUN_NAME $PKGRUN_VERSION $PKGRUN_TARGET" \
    > "$PKGRUN_DESTDIR/usr/share/hello/build-env"
