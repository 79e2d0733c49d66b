"""Escaping text and attribute values for the SVG and HTML that the outputs write.

The standard library's ``xml.sax.saxutils`` does the same, but importing it loads
``urllib.request`` and with it ``http.client``, ``socket`` and ``ssl``: some 20 ms of every
``import meshals`` for three string replacements. These give byte for byte its results.
"""

from __future__ import annotations

import html

__all__: list[str] = []

# What a quoted attribute value must not hold as it is: a line break or tab in an attribute is
# normalised to a space by XML parsers, so they are written as character references.
_ATTRIBUTE_WHITESPACE = str.maketrans({"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def escape(text: str) -> str:
    """*text* as XML character data: ``&``, ``<`` and ``>`` escaped (quotes as they are)."""
    return html.escape(text, quote=False)


def quoteattr(value: str) -> str:
    """*value* escaped and quoted as an XML attribute value, quotes included.

    Double quotes unless the value holds one and no single quote; a value holding both gets
    double quotes and ``&quot;`` (``xml.sax.saxutils.quoteattr``'s choice).

    >>> quoteattr('say "hi"'), quoteattr("it's <b>"), quoteattr("a\\tb")
    ('\\'say "hi"\\'', '"it\\'s &lt;b&gt;"', '"a&#9;b"')
    """
    escaped = escape(value).translate(_ATTRIBUTE_WHITESPACE)
    if '"' not in escaped:
        return f'"{escaped}"'
    if "'" not in escaped:
        return f"'{escaped}'"
    return '"{}"'.format(escaped.replace('"', "&quot;"))
