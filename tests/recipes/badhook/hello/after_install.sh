# %post that fails
echo "hello: after install fails on purpose" >&2
exit 1
