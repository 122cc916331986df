# supervisor %postun (fpm --after-remove), run by /bin/sh.
# $1 is RPM's count: 0 = erase, 1 = upgrade (0 when fpm wraps this script in a function
# called without arguments for the erase case). Never fails the transaction.
#
# On upgrade nothing is done (%post of the new package restarts supervisord). On erase:
#  - with systemd running: reload it (before_remove.sh has stopped and disabled the service
#    while its unit file still existed), and drop an enablement symlink left behind;
#  - remove the control socket and /run/supervisor.
# Logs (/var/log/supervisor) and /etc/supervisord.d files changed by the administrator
# (RPM keeps those as .rpmsave) stay.

case "${1:-0}" in
    0)
        if [ -L /etc/systemd/system/multi-user.target.wants/supervisord.service ]; then
            rm -f /etc/systemd/system/multi-user.target.wants/supervisord.service || :
        fi
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl daemon-reload >/dev/null 2>&1 || :
        fi
        rm -f /run/supervisor/supervisor.sock || :
        rmdir /run/supervisor 2>/dev/null || :
        ;;
    *)
        :
        ;;
esac
:
