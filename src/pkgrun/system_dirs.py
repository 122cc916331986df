"""Directories a distribution's own packages own, which a package of pkgrun's must not claim
and never leaves behind: the `filesystem` package's, and those of the services every server has
(systemd, logrotate, cron...), which a package's files go into and its [requires] bring."""

from __future__ import annotations

# The directories of el's `filesystem` package (el8/el9's filesystem.spec) that packages install
# into: created by it on every el system, so never a package's leftover there.
EL_FILESYSTEM_DIRS = (
    "/etc/bash_completion.d", "/etc/opt", "/etc/pki", "/etc/skel", "/etc/sysconfig", "/etc/xdg",
    "/etc/xdg/autostart", "/etc/X11", "/etc/X11/applnk", "/etc/X11/fontpath.d",
    "/opt", "/srv", "/usr/games", "/usr/include", "/usr/lib/debug", "/usr/lib/games",
    "/usr/lib/locale", "/usr/lib/modules", "/usr/lib64", "/usr/lib64/bpf", "/usr/lib64/games",
    "/usr/lib64/pkgconfig", "/usr/lib64/X11", "/usr/libexec",
    "/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/games", "/usr/local/include",
    "/usr/local/lib", "/usr/local/lib64", "/usr/local/libexec", "/usr/local/sbin",
    "/usr/local/share", "/usr/local/share/applications", "/usr/local/share/info",
    "/usr/local/share/man",
    *(f"/usr/local/share/man/man{s}" for s in (*"123456789n", *(f"{d}x" for d in "123456789"))),
    "/usr/local/src",
    "/usr/share/aclocal", "/usr/share/appdata", "/usr/share/applications", "/usr/share/augeas",
    "/usr/share/augeas/lenses", "/usr/share/backgrounds", "/usr/share/bash-completion",
    "/usr/share/bash-completion/completions", "/usr/share/bash-completion/helpers",
    "/usr/share/desktop-directories", "/usr/share/dict", "/usr/share/doc", "/usr/share/empty",
    "/usr/share/games", "/usr/share/gnome", "/usr/share/help", "/usr/share/icons", "/usr/share/idl",
    "/usr/share/info", "/usr/share/licenses",
    *(f"/usr/share/man/man{s}" for s in (*"123456789n", "0p", "1p", "3p", *(f"{d}x" for d in "123456789"))),
    "/usr/share/metainfo", "/usr/share/mime-info", "/usr/share/misc", "/usr/share/omf",
    "/usr/share/pixmaps", "/usr/share/pkgconfig", "/usr/share/sounds", "/usr/share/themes",
    "/usr/share/wayland-sessions", "/usr/share/X11", "/usr/share/X11/fonts", "/usr/share/xsessions",
    "/usr/share/zsh", "/usr/share/zsh/site-functions", "/usr/src", "/usr/src/debug", "/usr/src/kernels",
)  # fmt: skip

# Directories of the system's own services, owned by the package a recipe requires for them
# (systemd, logrotate, cronie, sudo, rsyslog, pam, setup...): a package puts files in them and
# owns none of them (as Fedora's packaging guidelines on directory ownership say).
SERVICE_DIRS = (
    "/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.monthly", "/etc/cron.weekly",
    "/etc/logrotate.d", "/etc/pam.d", "/etc/profile.d", "/etc/rsyslog.d", "/etc/security",
    "/etc/security/limits.d", "/etc/sudoers.d", "/etc/sysctl.d", "/etc/systemd", "/etc/systemd/system",
    "/etc/tmpfiles.d", "/etc/udev", "/etc/udev/rules.d", "/etc/ld.so.conf.d", "/etc/firewalld",
    "/etc/firewalld/services", "/usr/lib/firewalld", "/usr/lib/firewalld/services",
    "/usr/lib/modules-load.d", "/usr/lib/sysctl.d", "/usr/lib/systemd", "/usr/lib/systemd/system",
    "/usr/lib/systemd/system-preset", "/usr/lib/systemd/user", "/usr/lib/sysusers.d",
    "/usr/lib/tmpfiles.d", "/usr/lib/udev", "/usr/lib/udev/rules.d", "/usr/share/polkit-1",
    "/usr/share/polkit-1/actions", "/usr/share/polkit-1/rules.d",
)  # fmt: skip

SYSTEM_DIRS = frozenset(("/", *EL_FILESYSTEM_DIRS, *SERVICE_DIRS))
