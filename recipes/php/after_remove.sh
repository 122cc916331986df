# php %postun (fpm --after-remove), run by /bin/sh.
# $1 is RPM's count: 0 = erase, 1 = upgrade (0 when fpm wraps this script in a function
# called without arguments for the erase case). Never fails the transaction.
#
# Always: ldconfig, as libphp in /usr/local/php/lib may have gone or changed.
# On upgrade nothing else (%post of the new package restarts php-fpm). On erase:
#  - with systemd running: reload it (before_remove.sh has stopped and disabled the service
#    while its unit file still existed), and drop an enablement symlink left behind;
#  - remove /run/php-fpm, which holds only the pid file.
# Logs (/var/log/php-fpm), sessions (/var/lib/php/session) and the php-fpm user stay.

if command -v ldconfig >/dev/null 2>&1; then
    ldconfig || :
fi

case "${1:-0}" in
    0)
        if [ -L /etc/systemd/system/multi-user.target.wants/php-fpm.service ]; then
            rm -f /etc/systemd/system/multi-user.target.wants/php-fpm.service || :
        fi
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl daemon-reload >/dev/null 2>&1 || :
        fi
        rm -rf /run/php-fpm || :
        ;;
    *)
        :
        ;;
esac
:
