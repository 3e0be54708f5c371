"""The text types every request body uses (domain/text.py says what each may hold).

`free_text(n)` for reasons, messages, statements and links; `name(n)` for display names. A
value that breaks one is a 400 naming the field, with the rule in words (`describe`), never the
regular expression behind it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from domain.text import FREE_TEXT_PATTERN, NAME_PATTERN


def free_text(max_length: int, *, min_length: int = 1) -> Any:
    return Annotated[str, msgspec.Meta(min_length=min_length, max_length=max_length, pattern=FREE_TEXT_PATTERN,
                                       description="Text without control characters (tabs and line breaks allowed)")]


def name(max_length: int) -> Any:
    return Annotated[str, msgspec.Meta(min_length=1, max_length=max_length, pattern=NAME_PATTERN,
                                       description="One line without control or text-direction characters")]


# OpenAlex ids, short (W123) or canonical (https://openalex.org/W123).
OPENALEX_WORK = r"^(?:https://openalex\.org/)?[Ww][1-9]\d{0,11}$"
OPENALEX_TOPIC = r"^(?:https://openalex\.org/)?[Tt][1-9]\d{0,11}$"

# What each pattern the API uses means, for people reading a refusal.
_PATTERN_WORDS = {
    FREE_TEXT_PATTERN: "text without control characters (such as NUL)",
    NAME_PATTERN: "a name without control or text-direction characters",
    r"^\s*\d{6}\s*$": "a six-digit code",
    OPENALEX_TOPIC: "an OpenAlex topic id such as T10001 or https://openalex.org/T10001",
    OPENALEX_WORK: "an OpenAlex work id such as W2741809807 or https://openalex.org/W2741809807",
}
# msgspec shows a pattern as its repr without the quotes.
PATTERN_WORDS = {repr(pattern)[1:-1]: words for pattern, words in _PATTERN_WORDS.items()}
_REGEX_IN_MESSAGE = re.compile(r"Expected `str` matching regex '(.*)'")


def describe(message: str) -> str:
    """A validation message with the regular expression replaced by what it asks for."""
    match = _REGEX_IN_MESSAGE.search(message)
    if match is None:
        return message
    words = PATTERN_WORDS.get(match.group(1), "a value of the documented form")
    return f"{message[: match.start()]}Expected {words}{message[match.end():]}"
