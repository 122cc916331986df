#!/bin/bash
set -euo pipefail
# Build nginx into $PKGRUN_DESTDIR under /usr/local/nginx. Run by pkgrun with bash in the
# unpacked source ($PKGRUN_SRCDIR). pkgrun adds conf/nginx.conf, conf/conf.d/default.conf,
# the logrotate file and the systemd unit afterwards, so this script installs none of them.
# Logs, the pid and lock files and the temp directories live outside /usr/local/nginx
# (/var/log/nginx, /run, /var/cache/nginx); the package's hooks create them.

: "${PKGRUN_VERSION:?}" "${PKGRUN_SRCDIR:?}" "${PKGRUN_DESTDIR:?}"
jobs=${PKGRUN_JOBS:-1}
prefix=/usr/local/nginx
dest=$PKGRUN_DESTDIR
cache=/var/cache/nginx

cd "$PKGRUN_SRCDIR"
echo "build.sh: nginx $PKGRUN_VERSION for target ${PKGRUN_TARGET:-?}"

./configure \
    --prefix="$prefix" \
    --sbin-path="$prefix/sbin/nginx" \
    --conf-path="$prefix/conf/nginx.conf" \
    --pid-path=/run/nginx.pid \
    --lock-path=/run/nginx.lock \
    --error-log-path=/var/log/nginx/error.log \
    --http-log-path=/var/log/nginx/access.log \
    --http-client-body-temp-path="$cache/client_temp" \
    --http-proxy-temp-path="$cache/proxy_temp" \
    --http-fastcgi-temp-path="$cache/fastcgi_temp" \
    --http-uwsgi-temp-path="$cache/uwsgi_temp" \
    --http-scgi-temp-path="$cache/scgi_temp" \
    --user=nginx \
    --group=nginx \
    --with-http_ssl_module \
    --with-http_v2_module \
    --with-http_realip_module \
    --with-http_stub_status_module \
    --with-http_gzip_static_module \
    --with-threads \
    --with-file-aio \
    --with-pcre

make -j"$jobs"
make install DESTDIR="$dest"

# make install keeps a pristine *.default copy of every configuration file; ours come from
# the recipe, so drop them. (Its nginx.conf is replaced by pkgrun with conf/nginx.conf.)
rm -f "$dest$prefix"/conf/*.default
install -d -m 0755 "$dest$prefix/conf/conf.d"

# make install also creates $DESTDIR/run and $DESTDIR/var/log/nginx: they are not packaged
# (only etc and usr are); the hooks create the real ones.

# fpm's rpm does not strip, and nginx is compiled with -g: strip it (about 5 MB -> 1 MB).
if command -v strip >/dev/null 2>&1; then
    strip --strip-unneeded "$dest$prefix/sbin/nginx"
fi

# nginx on the default PATH, as a relative link
install -d -m 0755 "$dest/usr/local/sbin"
ln -sfn ../nginx/sbin/nginx "$dest/usr/local/sbin/nginx"

"$dest$prefix/sbin/nginx" -V
