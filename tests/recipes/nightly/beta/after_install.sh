# %post
echo "beta installed"
