# nginx %postun (fpm --after-remove), run by /bin/sh.
# $1 is RPM's count: 0 = erase, 1 = upgrade (0 when fpm wraps this script in a function
# called without arguments for the erase case). Never fails the transaction.
#
# On upgrade nothing is done (%post of the new package restarts nginx). On erase:
#  - with systemd running: reload it (before_remove.sh has stopped and disabled the service
#    while its unit file still existed), and drop an enablement symlink left behind;
#  - remove what the package created for running only: the temp directories in
#    /var/cache/nginx (and that directory when it is then empty).
# Logs (/var/log/nginx), the document root (/var/www/html) and the nginx user stay.

case "${1:-0}" in
    0)
        if [ -L /etc/systemd/system/multi-user.target.wants/nginx.service ]; then
            rm -f /etc/systemd/system/multi-user.target.wants/nginx.service || :
        fi
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl daemon-reload >/dev/null 2>&1 || :
        fi
        for nginx_tmp in client_temp proxy_temp fastcgi_temp uwsgi_temp scgi_temp; do
            rm -rf "/var/cache/nginx/$nginx_tmp" || :
        done
        rmdir /var/cache/nginx 2>/dev/null || :
        ;;
    *)
        :
        ;;
esac
:
