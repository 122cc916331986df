# php %post (fpm --after-install), run by /bin/sh.
# $1 is RPM's count: 1 = first install, 2 = upgrade (1 when fpm wraps this script in a
# function called without arguments). Never fails the transaction, never exits early.
#
# The directories php-fpm needs outside the package's payload (which is only /etc and
# /usr). Existing directories are left as they are, so an administrator's changes survive.
#   /var/log/php-fpm          0770 root:php-fpm  master log, slow log, the pool's PHP errors
#   /run/php-fpm              0755 root:root     the master's pid file (the systemd unit
#                                                recreates it: /run is a tmpfs there)
#   /var/lib/php/session      0770 root:php-fpm  session files of the www pool
#   /usr/local/php/etc/php.d  0755 root:root     extra *.ini files (also in the package)

php_mkdir() {
    # php_mkdir MODE OWNER GROUP DIR: create DIR if it does not exist yet
    if [ ! -d "$4" ]; then
        install -d -m "$1" -o "$2" -g "$3" "$4" 2>/dev/null ||
            install -d -m "$1" "$4" ||
            echo "php: warning: could not create $4" >&2
    fi
}

php_mkdir 0770 root php-fpm /var/log/php-fpm
php_mkdir 0755 root root /run/php-fpm
php_mkdir 0755 root root /var/lib/php
php_mkdir 0770 root php-fpm /var/lib/php/session
php_mkdir 0755 root root /usr/local/php/etc/php.d

# libphp (the embed SAPI) is in /usr/local/php/lib, listed in /etc/ld.so.conf.d/php.conf
if command -v ldconfig >/dev/null 2>&1; then
    ldconfig || :
fi

# systemd, when it is the running init: pick up the unit, enable it on first install as the
# distribution's preset policy says, restart a running php-fpm on upgrade. Without systemd
# (containers) supervisord runs php-fpm and there is nothing to do.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    case "${1:-1}" in
        1) systemctl preset php-fpm.service >/dev/null 2>&1 || : ;;
        *) systemctl try-restart php-fpm.service >/dev/null 2>&1 || : ;;
    esac
fi
:
