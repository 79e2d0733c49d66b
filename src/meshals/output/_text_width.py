"""How wide a line of text is drawn: the estimate every picture of meshals lays out by.

An SVG is laid out before any browser measures its text, so boxes are sized from Arial's
advance widths (Helvetica's, and Liberation Sans', the fonts the pictures ask for, share them),
rounded up a little so that a box holds its text in any of those fonts.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__: list[str] = []

#: The font every picture asks for; the widths below are its metrics.
FONT_FAMILY: Final = "Helvetica, Arial, 'Liberation Sans', sans-serif"

# Arial's advance widths in thousandths of an em, by the characters that share one.
_WIDTHS: Final = {
    191: "'",
    222: "ijl|",
    278: " ftI.,:;!/\\[]",
    333: "r-()`{}",
    355: '"',
    500: "ckszvxyJ*^",
    556: "abdeghnopqu0123456789L_$#?",
    584: "+<=>~",
    611: "FTZ",
    667: "ABEKPSVXY&",
    722: "CDHNRUw",
    778: "GOQ",
    833: "mM",
    889: "%",
    944: "W",
    1015: "@",
}
_EM: Final = {char: width / 1000 for width, chars in _WIDTHS.items() for char in chars}
_OTHER_EM: Final = 0.6  # a letter of another script, an accented or unusual one
_WIDE_EM: Final = 1.0  # East Asian wide and full-width characters
_SAFETY: Final = 1.06  # fonts that substitute for Arial are up to a few per cent wider


def _char_em(char: str) -> float:
    known = _EM.get(char)
    if known is not None:
        return known
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return _WIDE_EM
    return _OTHER_EM


def text_width(text: str, font_size: float) -> float:
    """The width of ``text`` drawn at ``font_size`` px, rounded up to hold it in any sans font.

    >>> round(text_width("productpage", 10), 1)
    58.9
    """
    return sum(_char_em(char) for char in text) * font_size * _SAFETY
