"""CSV cells that a spreadsheet shows as text instead of running as formulas.

A model's answer, a provider's error or a model name that starts with ``=`` (``=cmd|' /C calc'!A0``,
``=HYPERLINK(…)``) becomes a live formula when the CSV is opened in Excel, LibreOffice or Google
Sheets. OWASP's rule (https://owasp.org/www-community/attacks/CSV_Injection): prefix a single quote
to a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return, so that the
spreadsheet reads it as text. The JSONL export is left exact; only CSV is read by spreadsheets.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A formula character after leading spaces or newlines counts too: LibreOffice (with "trim
#: spaces", a common import setting) and several CSV importers strip leading whitespace before
#: deciding what a cell is.
_LEADING_BLANKS = " \n\x0b\x0c"


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a ``'`` prefixed when it is text a spreadsheet would run as a formula;
    numbers (and None) pass unchanged, so they stay numbers."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_STARTS) or value.lstrip(_LEADING_BLANKS).startswith(FORMULA_STARTS):
        return "'" + value
    return value
