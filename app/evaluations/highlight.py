"""Brand terms highlighted in a caption: preferred terms marked, banned and replaced words
struck. The text is escaped first; only the marks are markup. Phrases are found exactly as the
metrics find them (`GuideTerms.spans`)."""

from markupsafe import Markup, escape

from app.styleguides.glossary import GuideTerms


def highlight(text: str, terms: GuideTerms) -> Markup:
    """`text` as HTML with <mark class="prefer"> and <mark class="flag"> around whole terms."""
    out, last = [], 0
    for span, uses in terms.spans(text):
        kind = "prefer" if uses == {"preferred"} else "flag"
        out += [
            escape(text[last : span.start]),
            Markup('<mark class="{}">{}</mark>').format(kind, text[span.start : span.end]),
        ]
        last = span.end
    out.append(escape(text[last:]))
    return Markup("").join(out)
