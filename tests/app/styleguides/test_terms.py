import time

import pytest

from app.styleguides.terms import Term, terms_format, terms_parse


def prefer(term: str, *instead_of: str) -> Term:
    return Term("prefer", term, tuple(instead_of))


def avoid(term: str) -> Term:
    return Term("avoid", term)


def test_prefer_with_alternatives() -> None:
    assert terms_parse("Prefer: calfskin (not: leather, cowhide)") == [
        prefer("calfskin", "leather", "cowhide")
    ]


def test_prefer_alone() -> None:
    assert terms_parse("Prefer: calfskin") == [prefer("calfskin")]


def test_say_is_a_synonym_of_prefer() -> None:
    assert terms_parse("Say: midnight navy (not: dark blue)") == [
        prefer("midnight navy", "dark blue")
    ]


def test_avoid_lists_every_term() -> None:
    assert terms_parse("Avoid: cheap, bargain, knock-off") == [
        avoid("cheap"),
        avoid("bargain"),
        avoid("knock-off"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "- Prefer: calfskin (not: leather)",
        "* Prefer: calfskin (not: leather)",
        "+ Prefer: calfskin (not: leather)",
        "1. Prefer: calfskin (not: leather)",
        "12) Prefer: calfskin (not: leather)",
        "**Prefer:** calfskin (not: leather)",
        "**Prefer**: calfskin (not: leather)",
        "- **Prefer:** calfskin (not: leather)",
        "* **Prefer**: calfskin (not: leather)",
        "__Prefer:__ calfskin (not: leather)",
        "_Prefer_: calfskin (not: leather)",
        "PREFER: calfskin (NOT: leather)",
        "prefer : calfskin (not leather)",
        "   Prefer:calfskin(not:leather)",
        "\tPrefer:   calfskin    (  not :  leather  )  ",
        "Prefer: calfskin (not: leather",
        "Prefer: calfskin) (not: leather)",
        "Prefer: calfskin (not: leather))",
        'Prefer: "calfskin" (not: "leather")',
        "Prefer: `calfskin` (not: `leather`).",
        "Prefer: **calfskin** (not: leather)",
        "Prefer: calfskin (for small leather goods) (not: leather)",
        "Prefer: calfskin (not: leather) (the finer hide)",
        "Prefer: calfskin (not: leather,, , )",
    ],
)
def test_prefer_line_variants(line: str) -> None:
    assert terms_parse(line) == [prefer("calfskin", "leather")]


@pytest.mark.parametrize(
    "line",
    [
        "- Avoid: cheap, bargain",
        "**Avoid:** cheap; bargain",
        "3. AVOID: cheap ,bargain.",
        "avoid:cheap,bargain,",
        "Avoid: cheap (sounds discount), bargain",
        "Avoid: 'cheap', \"bargain\"",
    ],
)
def test_avoid_line_variants(line: str) -> None:
    assert terms_parse(line) == [avoid("cheap"), avoid("bargain")]


def test_internal_whitespace_collapses() -> None:
    assert terms_parse("Prefer: midnight \t  navy (not: dark   blue)") == [
        prefer("midnight navy", "dark blue")
    ]


def test_alternatives_may_be_separated_by_or_and_semicolons() -> None:
    assert terms_parse("Prefer: ivory (not: white or cream; off-white)") == [
        prefer("ivory", "white", "cream", "off-white")
    ]


def test_a_prefer_term_may_contain_a_comma() -> None:
    assert terms_parse("Prefer: calfskin, nappa finish (not: leather)") == [
        prefer("calfskin, nappa finish", "leather")
    ]


@pytest.mark.parametrize(
    "line",
    [
        "We prefer: calfskin over leather.",
        "Prefer calfskin to leather wherever you can.",
        "Our clients prefer: understatement.",
        "Preferably: calfskin",
        "Preferred: calfskin",
        "Avoidance: cheap",
        "Avoid cheap words.",
        "Saying: calfskin",
        "- We avoid: cheap",
        "# Prefer: calfskin",
        "> Avoid: cheap",
        "Never say: cheap",
        "Prefer:",
        "Prefer: (not: leather)",
        "Avoid: , ;",
        "",
    ],
)
def test_prose_and_empty_rules_do_not_match(line: str) -> None:
    assert terms_parse(line) == []


def test_rules_anywhere_in_a_document() -> None:
    text = (
        "# Maison style\n\nWe prefer: quiet words. Prefer calfskin, always.\n\n"
        "## Terminology\n\n- **Prefer:** calfskin (not: leather)\r\n"
        "- Say: burgundy (not: dark red, maroon)\n\nSome prose.\n"
        "- Avoid: cheap, bargain\n"
    )
    assert terms_parse(text) == [
        prefer("calfskin", "leather"),
        prefer("burgundy", "dark red", "maroon"),
        avoid("cheap"),
        avoid("bargain"),
    ]


def test_duplicates_keep_the_first_and_merge_alternatives() -> None:
    text = (
        "Avoid: cheap, Bargain, CHEAP\n"
        "Avoid: bargain\n"
        "Prefer: calfskin (not: leather, Leather)\n"
        "Prefer: Calfskin (not: cowhide, leather)\n"
        "Prefer: ivory (not: Ivory, white)\n"
    )
    assert terms_parse(text) == [
        avoid("cheap"),
        avoid("Bargain"),
        prefer("calfskin", "leather", "cowhide"),
        prefer("ivory", "white"),
    ]


def test_the_same_word_may_be_preferred_and_avoided() -> None:
    # Kinds are deduplicated separately: a contradiction is the guide's to fix, not ours.
    assert terms_parse("Prefer: luxe\nAvoid: luxe") == [prefer("luxe"), avoid("luxe")]


def test_format_writes_one_rule_per_line() -> None:
    terms = [prefer("calfskin", "leather", "cowhide"), prefer("ivory"), avoid("cheap")]
    assert terms_format(terms) == (
        "Prefer: calfskin (not: leather, cowhide)\nPrefer: ivory\nAvoid: cheap\n"
    )


def test_format_of_nothing_is_empty() -> None:
    assert terms_format([]) == ""


@pytest.mark.parametrize(
    "text",
    [
        "Prefer: calfskin (not: leather, cowhide)\nAvoid: cheap, bargain, knock-off",
        "- **Say:** midnight navy (not: dark blue or navy blue)\n* avoid: trendy; must-have",
        "1. Prefer: calfskin, nappa finish\n2. Prefer: calfskin (not: hide)\nAvoid: x (note)",
        "Prefer: ivory (not: white\nAvoid: 'cheap'.\nprose: not a rule",
    ],
)
def test_parse_format_round_trip(text: str) -> None:
    terms = terms_parse(text)
    assert terms
    assert terms_parse(terms_format(terms)) == terms


# Hostile guides: long runs of spaces where the rule pattern once tried every split of the run
# between two adjacent `\s*` (quadratic; 20,000 spaces took 8.6 s and held the GIL).
HOSTILE_LINES = {
    "spaces": lambda n: " " * n,
    "spaces after a keyword": lambda n: "Prefer" + " " * n + "x",
    "spaces after a list marker": lambda n: "- " + " " * n + "x",
    "spaces among alternatives": lambda n: "Prefer: x (not: a" + " " * n + "b)",
    "a guide of junk": lambda n: "\n".join(
        line(n // 40) for line in [lambda k: "**Prefer" + " " * k + "*", lambda k: "* " * k] * 10
    ),
}


def _best_parse_seconds(text: str) -> float:
    """The fastest of three parses: the least disturbed by other work on the machine."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        terms_parse(text)
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize("build", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
def test_parsing_time_grows_linearly_with_the_line(build) -> None:
    small, large = _best_parse_seconds(build(2_000)), _best_parse_seconds(build(20_000))
    # Ten times the text: ten times the time when linear, a hundred when quadratic. The
    # slack absorbs timer noise on parses that take microseconds.
    assert large < 20 * small + 0.005, (small, large)
