#!/bin/bash
echo "compiling hello..."
echo "hello.c:1: error: PKGRUN-TEST-MARKER the build breaks here" >&2
exit 3
