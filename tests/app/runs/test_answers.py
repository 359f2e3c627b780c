"""What an adapter answers, by task, and how strictly it is read back."""

import pytest

from app.runs.answers import Answer, answer_format, answer_parse
from app.runs.settings import TAGS_INSTRUCTION, settings_resolve


def test_a_caption_and_tags_answer_round_trips() -> None:
    text = answer_format("caption+tags", "Camille tote in burgundy", ["tote", "burgundy"])
    assert text == "Camille tote in burgundy\nTags: tote; burgundy"
    assert answer_parse("caption+tags", text) == Answer(
        text, "Camille tote in burgundy", ("tote", "burgundy"), parsed=True
    )
    assert answer_format("caption", "Camille tote", ["tote"]) == "Camille tote"
    no_tags = answer_format("caption+tags", "Camille tote", [])
    assert (
        answer_parse("caption+tags", no_tags).tags == ()
        and answer_parse("caption+tags", no_tags).parsed
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Camille tote in burgundy",  # no tags line
        "Tags: tote; burgundy",  # no caption
        "Camille tote\nTags: tote\nTags: burgundy",  # a third line
        "Camille tote\nLabels: tote",  # not the tags line
        "Camille tote\nTags tote; burgundy",  # no colon
    ],
)
def test_a_malformed_answer_is_not_parsed_never_guessed(text: str) -> None:
    answer = answer_parse("caption+tags", text)
    assert (answer.parsed, answer.caption, answer.tags, answer.raw) == (
        False,
        "",
        (),
        text.strip(),
    )


def test_tags_are_trimmed_lower_cased_and_unique_in_order() -> None:
    answer = answer_parse("caption+tags", "  Camille tote \n TAGS:  Tote ;burgundy;; tote ")
    assert answer == Answer(
        "Camille tote \n TAGS:  Tote ;burgundy;; tote", "Camille tote", ("tote", "burgundy"), True
    )


def test_the_task_brings_its_own_instruction_unless_one_is_given() -> None:
    assert settings_resolve("quick-demo", {"task": "caption+tags"}).instruction == TAGS_INSTRUCTION
    given = settings_resolve(None, {"task": "caption+tags", "instruction": "Tag it."})
    assert given.instruction == "Tag it."
    with pytest.raises(ValueError, match="task must be one of"):
        settings_resolve(None, {"task": "poem"})
