# %post
echo "hello: after install ($1)"
