"""The outputs' own markup escaping gives byte for byte what xml.sax.saxutils gives."""

from __future__ import annotations

from xml.sax.saxutils import escape as sax_escape
from xml.sax.saxutils import quoteattr as sax_quoteattr

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals.output._markup import escape, quoteattr

# Node names come from workload metadata: anything, quotes and markup included.
TRICKY = ['a "b" c', "it's", """both ' and " """, "<&>", "tab\tnew\nline\r", "&amp;", ""]


@pytest.mark.parametrize("text", TRICKY)
def test_as_saxutils_on_tricky_names(text: str) -> None:
    assert escape(text) == sax_escape(text)
    assert quoteattr(text) == sax_quoteattr(text)


def test_both_quotes_give_double_quotes_and_entities() -> None:
    assert quoteattr("""say "it's" <here>""") == '"say &quot;it\'s&quot; &lt;here&gt;"'


@given(st.text(alphabet=st.sampled_from("ab &<>\"'\t\n\r\u00e9"), max_size=12))
def test_as_saxutils_on_any_text(text: str) -> None:
    assert escape(text) == sax_escape(text)
    assert quoteattr(text) == sax_quoteattr(text)
