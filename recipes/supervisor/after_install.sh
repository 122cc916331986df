# supervisor %post (fpm --after-install), run by /bin/sh.
# $1 is RPM's count: 1 = first install, 2 = upgrade (1 when fpm wraps this script in a
# function called without arguments). Never fails the transaction, never exits early.
#
# The directories supervisord needs outside the package's payload. Existing directories
# are left as they are, so an administrator's changes survive upgrades.
#   /var/log/supervisor   0700 root:root  supervisord.log and the programs' child logs
#   /run/supervisor       0755 root:root  the control socket (supervisord does not create
#                                         the socket's directory; the systemd unit
#                                         recreates it with RuntimeDirectory=, /run being a
#                                         tmpfs there; in a container this one stays)
#   /etc/supervisord.d    0755 root:root  program definitions (also in the package)

supervisor_mkdir() {
    # supervisor_mkdir MODE DIR: create DIR (root:root) if it does not exist yet
    if [ ! -d "$2" ]; then
        install -d -m "$1" -o root -g root "$2" 2>/dev/null ||
            install -d -m "$1" "$2" ||
            echo "supervisor: warning: could not create $2" >&2
    fi
}

supervisor_mkdir 0700 /var/log/supervisor
supervisor_mkdir 0755 /run/supervisor
supervisor_mkdir 0755 /etc/supervisord.d

# systemd, when it is the running init: pick up the unit, enable it on first install as the
# distribution's preset policy says, restart a running supervisord on upgrade (which
# restarts its programs). Without systemd (containers) the image starts `supervisord -n`.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    case "${1:-1}" in
        1) systemctl preset supervisord.service >/dev/null 2>&1 || : ;;
        *) systemctl try-restart supervisord.service >/dev/null 2>&1 || : ;;
    esac
fi
:
