# %pre
echo "hello: before install ($1)"
