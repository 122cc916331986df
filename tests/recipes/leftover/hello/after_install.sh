# %post that leaves a file in a directory the package owns
mkdir -p /usr/share/hello
echo generated > /usr/share/hello/generated-at-install
