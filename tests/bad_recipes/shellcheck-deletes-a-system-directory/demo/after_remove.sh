rm -rf "$PREFIX/"
