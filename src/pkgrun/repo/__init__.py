"""The repository: publishing atomically under a lock, the ledger of what pkgrun published, the
metadata (createrepo_c), reading what is published (data.py), and serving it. Imports rpm, trust
and the base: never plans or builds."""
