# nginx %post (fpm --after-install), run by /bin/sh.
# $1 is RPM's count: 1 = first install, 2 = upgrade (1 when fpm wraps this script in a
# function called without arguments). Never fails the transaction, never exits early.
#
# The directories nginx needs outside the package's payload (which is only /etc and /usr).
# Existing directories are left as they are, so an administrator's changes survive upgrades.
#   /var/log/nginx    0750 root:nginx  the workers (user nginx) can reopen their logs after
#                                      USR1 but cannot plant symlinks for the root master
#   /var/cache/nginx  0755 root:root   the nginx user's home; its temp directories below
#                                      are 0700 nginx:nginx (the master would chown them
#                                      anyway; a root-owned parent keeps a worker from
#                                      swapping them for symlinks)
#   /var/www/html     0755 root:root   the default server's document root

nginx_mkdir() {
    # nginx_mkdir MODE OWNER GROUP DIR: create DIR if it does not exist yet
    if [ ! -d "$4" ]; then
        install -d -m "$1" -o "$2" -g "$3" "$4" 2>/dev/null ||
            install -d -m "$1" "$4" ||
            echo "nginx: warning: could not create $4" >&2
    fi
}

nginx_mkdir 0750 root nginx /var/log/nginx
nginx_mkdir 0755 root root /var/cache/nginx
for nginx_tmp in client_temp proxy_temp fastcgi_temp uwsgi_temp scgi_temp; do
    nginx_mkdir 0700 nginx nginx "/var/cache/nginx/$nginx_tmp"
done
nginx_mkdir 0755 root root /var/www
nginx_mkdir 0755 root root /var/www/html

# systemd, when it is the running init: pick up the unit, enable it on first install as the
# distribution's preset policy says, restart a running nginx on upgrade. Without systemd
# (containers) supervisord runs nginx and there is nothing to do.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    case "${1:-1}" in
        1) systemctl preset nginx.service >/dev/null 2>&1 || : ;;
        *) systemctl try-restart nginx.service >/dev/null 2>&1 || : ;;
    esac
fi
:
