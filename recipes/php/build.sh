#!/bin/bash
set -euo pipefail
# Build PHP (cli, fpm, cgi, phpdbg and the shared embed SAPI) into $PKGRUN_DESTDIR under
# /usr/local/php. Run by pkgrun with bash in the unpacked source ($PKGRUN_SRCDIR).
# pkgrun adds conf/* afterwards (php.ini, php-fpm.conf, php-fpm.d/www.conf, ld.so.conf,
# php-fpm.service), so this script installs none of them.

: "${PKGRUN_VERSION:?}" "${PKGRUN_SRCDIR:?}" "${PKGRUN_DESTDIR:?}"
jobs=${PKGRUN_JOBS:-1}
prefix=/usr/local/php
dest=$PKGRUN_DESTDIR

cd "$PKGRUN_SRCDIR"

# major*100 + minor: 7.1.8 -> 701, 8.2.32 -> 802
major=${PKGRUN_VERSION%%.*}
rest=${PKGRUN_VERSION#*.}
minor=${rest%%.*}
ver=$((major * 100 + minor))
echo "build.sh: PHP $PKGRUN_VERSION (branch $ver) for target ${PKGRUN_TARGET:-?}"

opts=(
    --prefix="$prefix"
    --with-config-file-path="$prefix/etc"
    --with-config-file-scan-dir="$prefix/etc/php.d"
    --enable-fpm
    --with-fpm-user=php-fpm
    --with-fpm-group=php-fpm
    --enable-embed=shared
    # the SAPIs the seed uses are cli, fpm and embed: phpdbg and cgi only cost build time
    --disable-phpdbg
    --disable-cgi
    --with-openssl
    --with-zlib
    --with-bz2
    --with-curl
    --with-readline
    --with-xsl
    --enable-mbstring
    --enable-opcache
    --enable-mysqlnd
    --with-mysqli=mysqlnd
    --with-pdo-mysql=mysqlnd
    --enable-bcmath
    --enable-sockets
    --enable-pcntl
)

if [ "$ver" -lt 704 ]; then
    # PHP <= 7.3: gd is configured with directories; sqlite3 and oniguruma are bundled
    opts+=(--with-gd --with-jpeg-dir=/usr --with-png-dir=/usr --with-freetype-dir=/usr)
else
    # PHP >= 7.4: gd finds libpng, libjpeg and freetype with pkg-config
    opts+=(--enable-gd --with-jpeg --with-freetype)
fi

if [ "$ver" -lt 702 ]; then
    # ext/mcrypt was removed in PHP 7.2
    opts+=(--with-mcrypt)
fi

# RHEL-like x86_64 keeps its libraries in /usr/lib64; PHP's --with-*-dir checks (gd's
# libjpeg/libpng, mcrypt, bz2 ...) look in DIR/$libdir, "lib" unless told otherwise.
if [ "${PKGRUN_FAMILY:-}" = yum ] && [ -d /usr/lib64 ] && [ "$(uname -m)" = x86_64 ]; then
    opts+=(--with-libdir=lib64)
fi

./configure "${opts[@]}"
make -j"$jobs"
make install INSTALL_ROOT="$dest"

# bin/phar.phar holds each of its files with the build's clock as its time (PHP does not read
# SOURCE_DATE_EPOCH there); dated SOURCE_DATE_EPOCH and signed again, the package rebuilds bit
# for bit. pkgrun sets SOURCE_DATE_EPOCH for every build.
if [ -n "${SOURCE_DATE_EPOCH:-}" ] && [ -f "$dest$prefix/bin/phar.phar" ]; then
    sapi/cli/php -n "$PKGRUN_RECIPE_DIR/phar-date.php" "$dest$prefix/bin/phar.phar" "$SOURCE_DATE_EPOCH"
fi

# PEAR's installer (PHP 7.x installs PEAR by default) drops its state files in the root of
# INSTALL_ROOT: .channels .depdb .depdblock .filemap .lock .registry. They are not packaged
# (only etc and usr are) but leave nothing behind that looks like a payload.
rm -rf "$dest"/.channels "$dest"/.depdb "$dest"/.depdblock "$dest"/.filemap \
    "$dest"/.lock "$dest"/.registry

# pkgrun installs our php-fpm.conf and www.conf; the upstream examples would only confuse.
rm -f "$dest$prefix/etc/php-fpm.conf.default" "$dest$prefix/etc/php-fpm.d/www.conf.default"

# the directories pkgrun fills from the recipe ([files.add], [files.directories])
install -d -m 0755 "$dest$prefix/etc/php.d" "$dest$prefix/etc/php-fpm.d"

# Strip the binaries and shared objects: fpm's rpm does not, and the -g build is more than
# twice as large (PHP 8.2: bin/php 50 MB -> 21 MB, libphp.so 45 MB -> 16 MB).
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' \n')" = '177ELF' ]; }
if command -v strip >/dev/null 2>&1; then
    while IFS= read -r -d '' f; do
        if is_elf "$f"; then
            strip --strip-unneeded "$f"
        fi
    done < <(find "$dest$prefix/bin" "$dest$prefix/sbin" "$dest$prefix/lib" -type f \
        \( -perm -u+x -o -name '*.so' \) -print0)
fi

# php and php-fpm on the default PATH, as relative links
install -d -m 0755 "$dest/usr/local/bin" "$dest/usr/local/sbin"
ln -sfn ../php/bin/php "$dest/usr/local/bin/php"
ln -sfn ../php/sbin/php-fpm "$dest/usr/local/sbin/php-fpm"

# a short record of what was built, in the log
"$dest$prefix/bin/php" -n -v || true
