"""Numbers written as text, as pkgrun reads them: ASCII digits only.

``str.isdigit()`` is true for '²' (which ``int()`` refuses) and for '٣' (which ``int()`` reads as 3),
and ``int()`` itself takes ' 7', '+7' and '1_000': none of them is a number in an environment
variable, an option, an RPM header, a file name or an HTTP header. Every number pkgrun reads from
outside goes through here.
"""

from __future__ import annotations

MAX_DIGITS = 4000  # int() refuses longer text (sys.int_info.default_max_str_digits)


def is_number(text: str) -> bool:
    """Whether ``text`` is a non-negative decimal number: one to 4,000 of 0-9, nothing else."""
    return len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def number(text: str) -> int | None:
    """``text`` as a number, or None when it is not one (see is_number)."""
    return int(text) if is_number(text) else None
