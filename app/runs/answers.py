"""What an adapter answers, by its task, and how the answer is read back.

- `caption`: the caption alone.
- `caption+tags`: one structured answer, the caption on its first line and the tags on a
  second line that starts with "Tags:", separated by semicolons:

      Camille tote in burgundy calfskin
      Tags: tote; burgundy; calfskin

The answer is read strictly: anything else is not parsed, and says so, rather than guessed at.
"""

import re
from dataclasses import dataclass

TASKS = ("caption", "caption+tags")
TAGS_INSTRUCTION = "Describe this product, then list its tags."
_TAGS_LINE = re.compile(r"tags:(?P<tags>.*)", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    """A model's answer read back: its caption and tags, or `parsed` False and both empty."""

    raw: str
    caption: str
    tags: tuple[str, ...]
    parsed: bool


def answer_format(task: str, caption: str, tags: list[str] | tuple[str, ...]) -> str:
    """The answer an adapter of `task` is trained to give for this caption and these tags."""
    if task == "caption":
        return caption
    return f"{caption}\nTags: {'; '.join(tags)}".rstrip()


def answer_parse(task: str, text: str) -> Answer:
    """The caption and tags in an answer of `task`; unparsed when it does not follow the form."""
    text = text.strip()
    if task == "caption":
        return Answer(text, text, (), parsed=bool(text))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 2 or (tagged := _TAGS_LINE.fullmatch(lines[1])) is None:
        return Answer(text, "", (), parsed=False)
    tags = tuple(dict.fromkeys(t.strip().lower() for t in tagged["tags"].split(";") if t.strip()))
    return Answer(text, lines[0], tags, parsed=True)
