"""One rule finds a style guide's phrases, for the prompt, the metrics and the results page."""

import re

import pytest

from app.evaluations.highlight import highlight
from app.styleguides.glossary import GuideTerms, phrase_spans, phrases_in
from app.styleguides.models import StyleGuideVersion, StyleTerm, TermKind
from worker.evaluate import style_check

TERMS = GuideTerms(
    prefer=(("forest green", ("dark green",)), ("nappa leather", ("soft leather",))),
    avoid=("cheap", "leather"),
)

CAPTIONS = [
    "A forest-green tote in nappa leather",
    "a Dark\nGreen, CHEAP belt of soft-leather",
    "leathery greens; a forest greenery",
    "<b>forest green</b> & leather",
]


@pytest.mark.parametrize("caption", CAPTIONS)
def test_the_metrics_count_exactly_what_the_page_marks(caption: str) -> None:
    hits = style_check(caption, TERMS)
    html = str(highlight(caption, TERMS))
    marked = re.findall(r'<mark class="(prefer|flag)">(.*?)</mark>', html, re.DOTALL)
    assert [text for kind, text in marked if kind == "prefer"] == [
        caption[s.start : s.end] for s, uses in TERMS.spans(caption) if uses == {"preferred"}
    ]
    assert len([m for m in marked if m[0] == "prefer"]) == len(hits.preferred)
    assert len([m for m in marked if m[0] == "flag"]) == len(hits.violations) + len(hits.banned)


def test_a_hyphen_or_a_line_break_joins_the_words_of_a_phrase_alike() -> None:
    html = str(highlight("A forest-green bag, a dark\ngreen strap", TERMS))
    assert '<mark class="prefer">forest-green</mark>' in html
    assert '<mark class="flag">dark\ngreen</mark>' in html
    assert style_check("A forest-green bag, a dark\ngreen strap", TERMS).violations == [
        "dark green"
    ]


def test_spans_are_whole_words_longest_first_and_spelt_as_given() -> None:
    spans = phrase_spans("Nappa Leather, leathers, leather", ["leather", "nappa leather"])
    assert [(s.start, s.end, s.phrase) for s in spans] == [
        (0, 13, "nappa leather"),
        (25, 32, "leather"),
    ]
    assert phrases_in("anything", []) == []


def test_guide_terms_of_a_version_and_the_instruction() -> None:
    guide = StyleGuideVersion(
        terms=[
            StyleTerm(position=0, kind=TermKind.prefer, term="burgundy", instead_of=["dark red"]),
            StyleTerm(position=1, kind=TermKind.avoid, term="cheap", instead_of=[]),
        ]
    )
    terms = GuideTerms.of(guide)
    assert terms == GuideTerms(prefer=(("burgundy", ("dark red",)),), avoid=("cheap",))
    assert (terms.preferred, terms.replaced) == (["burgundy"], ["dark red"])
    assert terms.instruction("Describe.") == "Describe. Use these terms: burgundy."
    assert GuideTerms.of(None).instruction("Describe.") == "Describe."
