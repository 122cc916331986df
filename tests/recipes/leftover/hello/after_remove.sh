# %postun
if [ "${1:-0}" -eq 0 ]; then echo "hello: removed"; fi
