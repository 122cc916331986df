# nginx %pre (fpm --before-install), run by /bin/sh: the nginx system group and user.
# $1 is RPM's count: 1 = first install, 2 = upgrade (and 1 when fpm wraps this script in a
# function called without arguments). Never fails the transaction, never exits early.

nginx_nologin=/sbin/nologin
if [ ! -x "$nginx_nologin" ]; then
    nginx_nologin=/usr/sbin/nologin
fi

if ! getent group nginx >/dev/null 2>&1; then
    groupadd -r nginx ||
        echo "nginx: warning: could not create the group nginx" >&2
fi
if ! getent passwd nginx >/dev/null 2>&1; then
    useradd -r -g nginx -d /var/cache/nginx -s "$nginx_nologin" \
        -c "nginx web server" nginx ||
        echo "nginx: warning: could not create the user nginx" >&2
fi
:
