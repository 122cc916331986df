"""pkgrun: per-component recipes in, RPMs in a yum repository out."""

__version__ = "0.1.0"
