"""Brand terms highlighted in a caption: preferred terms marked, banned and replaced words
struck. The text is escaped first; only the marks are markup."""

import re

from markupsafe import Markup, escape


def highlight(text: str, prefer: list[str], flagged: list[str]) -> Markup:
    """`text` as HTML with <mark class="prefer"> and <mark class="flag"> around whole terms."""
    kinds = {t.lower(): "prefer" for t in prefer if t} | {t.lower(): "flag" for t in flagged if t}
    if not kinds:
        return escape(text)
    # Longest first, so that "patent calfskin" wins over "calfskin".
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(t) for t in sorted(kinds, key=len, reverse=True)) + r")\b",
        re.IGNORECASE,
    )
    out, last = [], 0
    for match in pattern.finditer(text):
        out += [
            escape(text[last : match.start()]),
            Markup('<mark class="{}">{}</mark>').format(
                kinds[match.group(0).lower()], match.group(0)
            ),
        ]
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)
