#!/bin/bash
# built against the libgreet package installed in this container
make PREFIX=/usr/local
make install PREFIX=/usr/local DESTDIR="$PKGRUN_DESTDIR"
