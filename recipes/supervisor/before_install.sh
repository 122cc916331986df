# supervisor %pre (fpm --before-install), run by /bin/sh.
# $1 is RPM's count: 1 = first install, 2 = upgrade.
#
# Nothing to do before the files are installed: supervisord runs as root, so the package
# creates no user or group, and its directories are created in %post. Kept as a hook so
# that the recipe's hook set is the same for every component.
:
