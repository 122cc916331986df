"""RPM's version ordering (rpmvercmp), for keeping the newest releases of a package.

Neither the standard library nor createrepo_c's bindings offer it, and the host's rpm has no
Python bindings in a virtual environment; the algorithm is rpm's own (lib/rpmvercmp.c), short
and stable, and tests/test_evr.py holds cases from rpm's test suite.
"""

from __future__ import annotations

import re
from functools import total_ordering

# rpm's segments are ASCII letters or digits; anything else (non-ASCII digits too) separates
_SEGMENT = re.compile(r"([0-9]+|[A-Za-z]+|~|\^)")


def rpmvercmp(a: str, b: str) -> int:
    """-1, 0 or 1 as version or release ``a`` sorts before, with or after ``b``."""
    if a == b:
        return 0
    xs, ys = _SEGMENT.findall(a), _SEGMENT.findall(b)
    i = 0
    while True:
        x = xs[i] if i < len(xs) else None
        y = ys[i] if i < len(ys) else None
        # tilde sorts before everything, even the end of the string
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
            i += 1
            continue
        # caret sorts after the end of the string but before anything else
        if x == "^" or y == "^":
            if x is None:
                return -1
            if y is None:
                return 1
            if x != y:
                return -1 if x == "^" else 1
            i += 1
            continue
        if x is None or y is None:
            if x is None and y is None:
                return 0
            return -1 if x is None else 1
        if x[0].isdigit() != y[0].isdigit():
            return 1 if x[0].isdigit() else -1  # a number is newer than letters
        if x[0].isdigit():
            nx, ny = x.lstrip("0"), y.lstrip("0")  # as rpm: no int() of 5,000 digits
            if (len(nx), nx) != (len(ny), ny):
                return -1 if (len(nx), nx) < (len(ny), ny) else 1
        elif x != y:
            return -1 if x < y else 1
        i += 1


@total_ordering
class EVR:
    def __init__(self, epoch: int, version: str, release: str) -> None:
        self.key = (epoch, version, release)

    def _cmp(self, other: EVR) -> int:
        (e1, v1, r1), (e2, v2, r2) = self.key, other.key
        if e1 != e2:
            return -1 if e1 < e2 else 1
        return rpmvercmp(v1, v2) or rpmvercmp(r1, r2)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EVR) and self._cmp(other) == 0

    def __lt__(self, other: EVR) -> bool:
        return self._cmp(other) < 0

    def __hash__(self) -> int:
        return hash(self.key)
