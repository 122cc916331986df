# %post
echo "alpha installed"
