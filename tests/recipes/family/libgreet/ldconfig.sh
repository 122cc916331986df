# the dynamic linker's cache knows the library (and forgets it once removed)
ldconfig
