"""Reads works in OpenAlex's published Work format and turns them into catalogue records.

Accepted inputs: one Work object, a JSON list of Works, an API page ({"meta", "results"}), or
JSON Lines (one Work per line, as in the snapshot; .gz too). Unknown OpenAlex fields are
ignored, since the format has dozens we do not use; known fields are type-checked. A bad
record is reported with its line (JSON Lines) or its position (JSON list) and skipped.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import msgspec

from domain.catalogue.application import AuthorshipRecord, InstitutionRecord, WorkRecord
from domain.text import clean_free_text, clean_name

NO_NUL = "^[^\x00]*$"  # PostgreSQL text cannot hold NUL; refuse it at the door
Text = Annotated[str, msgspec.Meta(max_length=2_000, pattern=NO_NUL)]
# Titles and names are cleaned by the project's text rules (domain/text.py) field by field,
# with a warning, rather than refused at the door: they are only bounded here.
FreeText = Annotated[str, msgspec.Meta(max_length=2_000)]
LongFreeText = Annotated[str, msgspec.Meta(max_length=10_000)]
MAX_ABSTRACT_WORDS = 20_000
# The largest known author lists are about 5,200 (ATLAS and CMS); above this bound the first
# ones are kept with a warning rather than the work refused.
MAX_AUTHORSHIPS = 10_000
MAX_INSTITUTIONS = 100  # per authorship, likewise


class OAInstitution(msgspec.Struct):
    id: Text | None = None
    display_name: FreeText | None = None
    ror: Text | None = None
    country_code: Annotated[str, msgspec.Meta(max_length=8, pattern=NO_NUL)] | None = None


class OAAuthorship(msgspec.Struct):
    """One author of a work. Decoded loosely: each field is checked on its own in to_record, so
    a bad one (an ORCID iD, an institution of another shape) is dropped, not the work."""

    author: Any = None
    author_position: Any = None
    institutions: Any = []


class OASource(msgspec.Struct):
    id: Text | None = None
    display_name: FreeText | None = None
    type: Text | None = None


class OALocation(msgspec.Struct):
    source: OASource | None = None


class OATopic(msgspec.Struct):
    id: Text
    display_name: FreeText | None = None


class OAWork(msgspec.Struct):
    id: Text
    doi: Text | None = None
    title: LongFreeText | None = None
    display_name: LongFreeText | None = None
    publication_year: Annotated[int, msgspec.Meta(ge=0, le=3000)] | None = None
    publication_date: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    type: Text | None = None
    primary_location: OALocation | None = None
    cited_by_count: Annotated[int, msgspec.Meta(ge=0, le=2**53)] | None = 0
    abstract_inverted_index: dict[Text, list[Annotated[int, msgspec.Meta(ge=0, le=10**6)]]] | None = None
    topics: Annotated[list[OATopic], msgspec.Meta(max_length=100)] = []
    authorships: list[OAAuthorship] = []


class MalformedRecordError(ValueError):
    """A record that cannot be imported, with the reason a person can act on."""


_OPENALEX_ID = re.compile(r"^(?:https://openalex\.org/)?([WAISTwaist])(\d{1,15})$")
_ORCID = re.compile(r"^(?:https?://(?:www\.)?orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dXx])$")


@lru_cache(maxsize=200_000)  # authors, institutions and topics recur across works
def openalex_id(value: str, kind: str) -> str:
    match = _OPENALEX_ID.match(value.strip())
    if not match or match.group(1).upper() != kind:
        raise MalformedRecordError(f"{value!r} is not an OpenAlex {_KINDS[kind]} id")
    return f"{kind}{int(match.group(2))}"  # A0123 and A123 are one id


_KINDS = {"W": "work", "A": "author", "I": "institution", "S": "source", "T": "topic"}


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 mod 11-2 over the 15 digits, as ORCID specifies."""
    digits = orcid.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


@lru_cache(maxsize=100_000)
def normalise_orcid(value: str) -> str:
    """A bare ORCID iD (0000-0002-1825-0097) from an iD or an orcid.org URL."""
    match = _ORCID.match(value.strip())
    if not match or not orcid_checksum_ok(match.group(1).upper()):
        raise MalformedRecordError(f"{value!r} is not a valid ORCID iD")
    return match.group(1).upper()


def normalise_doi(value: str) -> str:
    doi = value.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    if not doi.startswith("10."):
        raise MalformedRecordError(f"{value!r} is not a DOI")
    return doi.lower()


def rebuild_abstract(index: dict[str, list[int]] | None) -> str | None:
    """OpenAlex ships abstracts as word -> positions; put the words back in order."""
    if not index:
        return None
    placed: list[tuple[int, str]] = [(pos, word) for word, positions in index.items() for pos in positions]
    if len(placed) > MAX_ABSTRACT_WORDS:
        raise MalformedRecordError(f"abstract has more than {MAX_ABSTRACT_WORDS} words")
    placed.sort()
    return " ".join(word for _, word in placed)


def clean_imported_name(value: str | None, field: str, warnings: list[str]) -> str | None:
    """A name as given, with control and text-direction characters dropped (a warning says so);
    None when nothing visible is left."""
    if value is None:
        return None
    cleaned, changed = clean_name(value)
    if changed and cleaned:
        warnings.append(f"{field}: control or text-direction characters dropped")
    elif not cleaned and value.strip():
        warnings.append(f"{field}: nothing visible in {value!r}; left out")
    return cleaned or None


def clean_imported_text(value: str | None, field: str, warnings: list[str]) -> str | None:
    """Free text (a title) with control characters dropped, a warning saying so."""
    if value is None:
        return None
    cleaned, changed = clean_free_text(value)
    if changed:
        warnings.append(f"{field}: control characters dropped")
    return cleaned


def _institution(raw: Any, where: str, warnings: list[str]) -> InstitutionRecord | None:
    """One institution of an authorship, or None (with a warning) when its shape is unknown."""
    try:
        institution = msgspec.convert(raw, OAInstitution)
    except msgspec.ValidationError as e:
        warnings.append(f"{where}: not an OpenAlex institution ({e}); left out")
        return None
    openalex = None
    if institution.id:
        try:
            openalex = openalex_id(institution.id, "I")
        except MalformedRecordError as e:
            warnings.append(f"{where}.id: {e}; left out")
    name = clean_imported_name(institution.display_name, f"{where}.display_name", warnings)
    if openalex is None and name is None:
        if institution.id or institution.display_name:
            warnings.append(f"{where}: neither an id nor a name left; left out")
        return None
    return {"openalex_id": openalex, "display_name": name, "ror": institution.ror,
            "country_code": institution.country_code}


def _authorship(a: OAAuthorship, where: str, warnings: list[str]) -> AuthorshipRecord | None:
    """One authorship with its bad fields dropped; None when it names no author we can keep."""
    author = a.author
    if not isinstance(author, dict):
        if author is not None:
            warnings.append(f"{where}.author: expected an object, got {type(author).__name__}; authorship left out")
        return None
    raw_id = author.get("id")
    if raw_id is None or raw_id == "":
        return None  # OpenAlex could not identify this author: nothing to attach a profile to
    try:
        if not isinstance(raw_id, str):
            raise MalformedRecordError(f"{raw_id!r} is not an OpenAlex author id")
        author_id = openalex_id(raw_id, "A")
    except MalformedRecordError as e:
        warnings.append(f"{where}.author.id: {e}; authorship left out")
        return None
    orcid = None
    raw_orcid = author.get("orcid")
    if raw_orcid:
        try:
            if not isinstance(raw_orcid, str):
                raise MalformedRecordError(f"{raw_orcid!r} is not a valid ORCID iD")
            orcid = normalise_orcid(raw_orcid)
        except MalformedRecordError as e:
            warnings.append(f"{where}.author.orcid: {e}; left out")
    raw_name = author.get("display_name")
    if raw_name is not None and (not isinstance(raw_name, str) or len(raw_name) > 2_000):
        warnings.append(f"{where}.author.display_name: expected a text of at most 2,000 characters; left out")
        raw_name = None
    position = a.author_position
    if position is not None and (not isinstance(position, str) or len(position) > 16):
        warnings.append(f"{where}.author_position: expected one of first, middle, last; left out")
        position = None
    raw_institutions = a.institutions
    if raw_institutions is None:
        raw_institutions = []
    if not isinstance(raw_institutions, list):
        warnings.append(f"{where}.institutions: expected a list, got {type(raw_institutions).__name__}; left out")
        raw_institutions = []
    if len(raw_institutions) > MAX_INSTITUTIONS:
        warnings.append(f"{where}.institutions: {len(raw_institutions):,} listed; the first {MAX_INSTITUTIONS} kept")
        raw_institutions = raw_institutions[:MAX_INSTITUTIONS]
    institutions = [i for m, raw in enumerate(raw_institutions, start=1)
                    if (i := _institution(raw, f"{where}.institutions[{m}]", warnings)) is not None]
    return {
        "openalex_id": author_id,
        "display_name": clean_imported_name(raw_name, f"{where}.author.display_name", warnings) or "",
        "orcid": orcid,
        "position": position,
        "institutions": institutions,
    }


def _merge(first: AuthorshipRecord, again: AuthorshipRecord) -> None:
    """A work that lists one author twice has one authorship: the first, with the ORCID iD and
    the institutions the second adds."""
    if first["orcid"] is None:
        first["orcid"] = again["orcid"]
    known = {(i["openalex_id"], i["display_name"]) for i in first["institutions"]}
    first["institutions"].extend(i for i in again["institutions"] if (i["openalex_id"], i["display_name"]) not in known)


def to_record(work: OAWork, warnings: list[str] | None = None) -> WorkRecord:
    """Validate and normalise one decoded Work. A bad field of an authorship (an ORCID iD with a
    wrong check digit, a name of invisible characters, an institution of another shape) is
    dropped with a warning added to `warnings`: the work and its other authors still import."""
    warnings = [] if warnings is None else warnings
    if work.publication_date is not None:
        try:
            date.fromisoformat(work.publication_date)  # the pattern checked the shape, this the calendar
        except ValueError:
            raise MalformedRecordError(
                f"publication_date {work.publication_date!r} is not a YYYY-MM-DD date"
            ) from None
    venue = None
    source = work.primary_location.source if work.primary_location else None
    if source is not None and (source.id or source.display_name):
        venue = {
            "openalex_id": openalex_id(source.id, "S") if source.id else None,
            "display_name": clean_imported_name(source.display_name, "primary_location.source.display_name",
                                                warnings),
            "type": source.type,
        }
    listed = work.authorships
    if len(listed) > MAX_AUTHORSHIPS:
        warnings.append(f"authorships: {len(listed):,} listed; the first {MAX_AUTHORSHIPS:,} kept")
        listed = listed[:MAX_AUTHORSHIPS]
    authorships: list[AuthorshipRecord] = []
    seen: dict[str, tuple[int, AuthorshipRecord]] = {}
    for n, a in enumerate(listed, start=1):
        where = f"authorships[{n}]"
        authorship = _authorship(a, where, warnings)
        if authorship is None:
            continue
        earlier = seen.get(authorship["openalex_id"])
        if earlier is not None:
            warnings.append(f"{where}.author.id: {authorship['openalex_id']} is listed already at "
                            f"authorships[{earlier[0]}]; merged into it")
            _merge(earlier[1], authorship)
            continue
        seen[authorship["openalex_id"]] = (n, authorship)
        authorships.append(authorship)
    title = work.title if work.title is not None else work.display_name
    return {
        "openalex_id": openalex_id(work.id, "W"),
        "doi": normalise_doi(work.doi) if work.doi else None,
        "title": clean_imported_text(title, "title", warnings),
        "publication_year": work.publication_year,
        "publication_date": work.publication_date,
        "type": work.type,
        "venue": venue,
        "cited_by_count": work.cited_by_count or 0,
        "abstract": clean_imported_text(rebuild_abstract(work.abstract_inverted_index), "abstract_inverted_index",
                                        warnings),
        "topics": [
            {"openalex_id": openalex_id(t.id, "T"),
             "display_name": clean_imported_name(t.display_name, f"topics[{n}].display_name", warnings)}
            for n, t in enumerate(work.topics, start=1)
        ],
        "authorships": authorships,
    }


@dataclass(frozen=True)
class Parsed:
    """One input record: its place in the file and either the record or the reason it failed."""

    where: str
    record: WorkRecord | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()  # fields dropped from an imported record


_work_decoder = msgspec.json.Decoder(OAWork)
_any_decoder = msgspec.json.Decoder()


def _parse_work(raw: Any, where: str) -> Parsed:
    warnings: list[str] = []
    try:
        record = to_record(msgspec.convert(raw, OAWork), warnings)
        return Parsed(where, record=record, warnings=tuple(warnings))
    except msgspec.ValidationError as e:
        return Parsed(where, error=str(e))
    except MalformedRecordError as e:
        return Parsed(where, error=str(e))


def is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def not_utf8(data: bytes) -> str:
    """Where the first byte that is not UTF-8 is, in words (msgspec's error does not say)."""
    try:
        data.decode()
    except UnicodeDecodeError as e:
        error = e
    else:
        return "not UTF-8"
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    return f"not UTF-8: byte 0x{data[error.start]:02x} at line {line}, column {column}"


def _parse_line(line: bytes, where: str) -> Iterator[Parsed]:
    try:  # the common case, decoded straight into the typed Work (about twice as fast)
        work = _work_decoder.decode(line)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        pass  # an API page on one line, or a bad record: the general path says which
    else:
        warnings: list[str] = []
        try:
            record = to_record(work, warnings)
            yield Parsed(where, record=record, warnings=tuple(warnings))
        except MalformedRecordError as e:
            yield Parsed(where, error=str(e))
        return
    try:
        raw = _any_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        # msgspec before 0.23 raised UnicodeDecodeError for a byte that is not UTF-8, later
        # versions a DecodeError: the line itself says which it was.
        yield Parsed(where, error=not_utf8(line).replace(" at line 1, ", " at ") if not is_utf8(line)
                     else f"not JSON: {e}")
        return
    except RecursionError:
        yield Parsed(where, error="JSON nested too deeply")
        return
    yield from _parse_document(raw, where)


def _parse_document(raw: Any, where: str) -> Iterator[Parsed]:
    if isinstance(raw, dict) and "results" in raw and "id" not in raw:
        raw = raw["results"]
    if isinstance(raw, list):
        prefix = f"{where}, " if where else ""
        for n, item in enumerate(raw, start=1):
            yield _parse_work(item, f"{prefix}record {n}")
    elif isinstance(raw, dict):
        yield _parse_work(raw, where or "record 1")
    else:
        yield Parsed(where or "record 1", error="expected an OpenAlex Work object, a list of them or an API page")


class UnreadableFileError(ValueError):
    """The file as a whole is not in any accepted format."""


def parse_bytes(data: bytes) -> Iterator[Parsed]:
    """Parse a whole document held in memory (an HTTP body, a small file)."""
    stripped = data.lstrip()
    if not stripped:
        raise UnreadableFileError("the input is empty")
    try:
        data.decode()  # JSON is UTF-8 (RFC 8259): say where it is not, before anything is parsed
    except UnicodeDecodeError:
        raise UnreadableFileError(f"the input is {not_utf8(data)}") from None
    try:
        raw = _any_decoder.decode(stripped)
    except RecursionError:
        raise UnreadableFileError("the input is JSON nested too deeply") from None
    except msgspec.DecodeError:
        if stripped[:1] != b"{":
            raise UnreadableFileError(
                "the input is neither JSON nor JSON Lines of OpenAlex Work objects"
            ) from None
        # Not one JSON document: JSON Lines, one Work per line.
        for n, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield from _parse_line(line, f"line {n}")
        return
    yield from _parse_document(raw, "")


class WorkFileReader:
    """Streams a file of works; JSON Lines are read line by line, whatever the file size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total_bytes = path.stat().st_size
        self.bytes_read = 0

    def _open(self) -> io.BufferedIOBase:
        if self.path.suffix == ".gz":
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return self.path.open("rb")

    def _raw_position(self, f: io.BufferedIOBase) -> int:
        inner = getattr(f, "fileobj", None)  # gzip: progress through the compressed file
        return (inner or f).tell()

    def __iter__(self) -> Iterator[Parsed]:
        try:
            yield from self._read()
        except (OSError, EOFError, zlib.error) as e:  # unreadable, a .gz that is not gzip, or cut short
            raise UnreadableFileError(f"{self.path}: cannot be read: {e}") from None

    def _read(self) -> Iterator[Parsed]:
        with self._open() as f:
            first = b""
            for line in f:
                if line.strip():
                    first = line
                    break
            if not first:
                raise UnreadableFileError(f"{self.path} is empty")
            if first.lstrip()[:1] == b"{":
                try:
                    _any_decoder.decode(first)
                    is_json_lines = True
                except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                    # A whole object on the line with a bad byte in it is still JSON Lines; a
                    # pretty-printed object spans lines.
                    is_json_lines = not is_utf8(first) and first.rstrip().endswith(b"}")
            else:
                is_json_lines = False
            if not is_json_lines:
                rest = f.read()
                self.bytes_read = self.total_bytes
                yield from parse_bytes(first + rest)
                return
            f.seek(0)
            for n, line in enumerate(f, start=1):
                if line.strip():
                    yield from _parse_line(line, f"line {n}")
                self.bytes_read = self._raw_position(f)
