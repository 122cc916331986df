# %post
echo "gamma installed"
