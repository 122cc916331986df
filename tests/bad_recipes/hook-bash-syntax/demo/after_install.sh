# bash syntax: sh -n passes where /bin/sh is bash, and dash on Debian fails to run it
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
fi
