"""Directories el's `filesystem` package owns: on every el system, so never a package's
leftover there, and never claimed by a package of pkgrun's. The directories other packages
bring (systemd's, logrotate's) are found in the target's runtime image with the recipe's
requirements installed (lookup.py)."""

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
