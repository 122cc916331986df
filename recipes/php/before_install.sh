# php %pre (fpm --before-install), run by /bin/sh: the php-fpm system group and user, which
# the www pool's workers run as. It has no home directory and no shell.
# $1 is RPM's count: 1 = first install, 2 = upgrade (and 1 when fpm wraps this script in a
# function called without arguments). Never fails the transaction, never exits early.

php_nologin=/sbin/nologin
if [ ! -x "$php_nologin" ]; then
    php_nologin=/usr/sbin/nologin
fi

if ! getent group php-fpm >/dev/null 2>&1; then
    groupadd -r php-fpm ||
        echo "php: warning: could not create the group php-fpm" >&2
fi
if ! getent passwd php-fpm >/dev/null 2>&1; then
    useradd -r -g php-fpm -d /nonexistent -s "$php_nologin" \
        -c "PHP FastCGI process manager" php-fpm ||
        echo "php: warning: could not create the user php-fpm" >&2
fi
:
