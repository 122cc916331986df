./configure --prefix=/usr && (make
