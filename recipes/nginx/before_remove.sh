# nginx %preun (fpm --before-remove), run by /bin/sh.
# $1 is RPM's count: 0 = erase, 1 = upgrade (0 when fpm wraps this script in a function
# called without arguments for the erase case). Never fails the transaction.
# On erase, with systemd running: disable and stop nginx.service while its unit file and
# binaries still exist, so ExecStop= runs and no enablement symlink is left behind.
case "${1:-0}" in
    0)
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl --no-reload disable nginx.service >/dev/null 2>&1 || :
            systemctl stop nginx.service >/dev/null 2>&1 || :
        fi
        ;;
    *)
        :
        ;;
esac
:
