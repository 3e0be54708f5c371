"""What text people and imports may put into the record: the one definition every edge uses.

Free text (reasons, messages, statements, links) may hold any printable character, tabs and line
breaks; never NUL or another C0/C1 control character, which PostgreSQL text cannot hold (NUL) or
a terminal or page would act on. Names are stricter: one line, no bidirectional controls (which
make a name display other than it reads), and at least one visible character.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from domain.errors import ErrorCode, InvalidInputError

# C0 controls but tab, line feed and carriage return; DEL; C1 controls.
CONTROL_CHARACTERS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# Everything a name may not hold: every C0/C1 control, the bidirectional marks, embeddings,
# overrides and isolates, and the line and paragraph separators.
NAME_FORBIDDEN = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"

FREE_TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
NAME_PATTERN = f"^[^{NAME_FORBIDDEN}]*$"

_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
_NAME_FORBIDDEN = re.compile(f"[{NAME_FORBIDDEN}]")
# Letters that render as nothing (Hangul fillers, the Braille blank) although their category says letter.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


class InvalidTextError(InvalidInputError):
    """A text field holds characters it may not (answered 400, naming the field)."""

    def __init__(self, field: str, what: str) -> None:
        super().__init__(f"{field}: {what}", code=ErrorCode.INVALID_TEXT, field=field)
        self.field = field


def is_visible(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_LETTERS


def check_free_text(field: str, text: str) -> str:
    """Free text as given, or InvalidTextError naming the field."""
    if _CONTROL.search(text):
        raise InvalidTextError(field, "must not contain control characters (such as NUL)")
    return text


def check_name(field: str, name: str) -> str:
    """A name with its whitespace collapsed, or InvalidTextError naming the field."""
    if _NAME_FORBIDDEN.search(name):
        raise InvalidTextError(field, "must not contain control or text-direction characters")
    name = " ".join(name.split())
    if not any(is_visible(ch) for ch in name):
        raise InvalidTextError(field, "must contain at least one visible character")
    return name


def needs_cleaning(name: str) -> bool:
    """Whether clean_name would change the name (a quick look for what it drops)."""
    return (bool(_NAME_FORBIDDEN.search(name)) or name != " ".join(name.split())
            or not any(is_visible(ch) for ch in name))


@lru_cache(maxsize=200_000)  # imports meet the same names again and again (a prolific author per work)
def clean_name(name: str) -> tuple[str, bool]:
    """A name from outside (an import) with forbidden characters dropped and whitespace collapsed:
    (the name, whether anything was dropped). An empty name means nothing visible was left."""
    cleaned = " ".join(_NAME_FORBIDDEN.sub("", name).split())
    if not any(is_visible(ch) for ch in cleaned):
        cleaned = ""
    return cleaned, cleaned != " ".join(name.split())


def clean_free_text(text: str) -> tuple[str, bool]:
    """Free text from outside (an import) with control characters dropped: (the text, whether
    anything was)."""
    if not _CONTROL.search(text):
        return text, False
    return _CONTROL.sub("", text), True


def safe_text(text: str) -> str:
    """Text already stored, made safe to write into a read model: controls become U+FFFD."""
    return _CONTROL.sub("\ufffd", text) if _CONTROL.search(text) else text
