#!/bin/bash
# A build that takes long enough to be interrupted.
echo "PKGRUN-TEST-SLOW started"
sleep 600
