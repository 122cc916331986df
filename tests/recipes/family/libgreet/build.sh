#!/bin/bash
# a shared library and its header, into /usr/local
make -j"${PKGRUN_JOBS:-1}" PREFIX=/usr/local
make install PREFIX=/usr/local DESTDIR="$PKGRUN_DESTDIR"
