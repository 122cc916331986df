make install
