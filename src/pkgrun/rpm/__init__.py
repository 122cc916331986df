"""Reading RPMs: the header as bytes (header.py, no rpm needed), the package as rpm -qp reads it
(query.py), and versions compared as rpm compares them (evr.py). Imports only the base modules."""
