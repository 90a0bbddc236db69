"""The annotator pages' catalogues (locale/<lang>/LC_MESSAGES/django.po): complete, faithful
to their placeholders and key names, and compiled (.mo, committed) from the .po as it is.

Nothing here compiles: CI machines may have no gettext. The .mo is read with Python's own
gettext module and compared with the .po entry by entry.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation import to_locale

from annotation.models import UI_LANGUAGES

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != "en"]
TEMPLATES = Path(settings.BASE_DIR) / "templates"


@dataclass
class Entry:
    msgid: str
    context: str | None = None
    plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return f"{self.context}\x04{self.msgid}" if self.context is not None else self.msgid


def read_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """The header's fields and the entries of a .po file (obsolete `#~` entries left out)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] = ("msgid", 0)
    flags: set[str] = set()
    line_pattern = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$')
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip() or line.startswith("#~"):
            if current is not None:
                entries.append(current)
            current, flags = None, set()
            continue
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        if match := line_pattern.match(line):
            keyword, index, value = match.group(1), match.group(2), ast.literal_eval(match.group(3))
            if current is None:
                current = Entry(msgid="", flags=flags)
            if keyword == "msgctxt":
                current.context, target = value, ("msgctxt", 0)
            elif keyword == "msgid":
                current.msgid, target = value, ("msgid", 0)
            elif keyword == "msgid_plural":
                current.plural, target = value, ("msgid_plural", 0)
            else:
                target = ("msgstr", int(index or 0))
                current.msgstr[target[1]] = value
            continue
        assert line.startswith('"') and current is not None, f"{path}: cannot read {line!r}"
        value = ast.literal_eval(line)
        kind, index = target
        if kind == "msgctxt":
            current.context = (current.context or "") + value
        elif kind == "msgid":
            current.msgid += value
        elif kind == "msgid_plural":
            current.plural = (current.plural or "") + value
        else:
            current.msgstr[index] += value
    header_entry = next(entry for entry in entries if entry.msgid == "" and not entry.context)
    assert "fuzzy" not in header_entry.flags, f"{path}: the header is marked fuzzy"
    header = dict(
        line.split(": ", 1) for line in header_entry.msgstr[0].splitlines() if ": " in line
    )
    return header, [entry for entry in entries if entry is not header_entry]


def catalogue(language: str) -> Path:
    return LOCALE / to_locale(language) / "LC_MESSAGES" / "django.po"


PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]+\}")
KBD = re.compile(r"<kbd>[^<]*</kbd>")


def test_the_pages_speak_the_languages_a_project_can_choose():
    assert [code for code, _ in settings.LANGUAGES] == [code for code, _ in UI_LANGUAGES]
    assert settings.LANGUAGE_CODE == "en"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated(language):
    header, entries = read_po(catalogue(language))
    nplurals = int(re.search(r"nplurals=(\d+)", header["Plural-Forms"]).group(1))
    assert header["Content-Type"] == "text/plain; charset=UTF-8"
    assert len(entries) > 100
    for entry in entries:
        assert "fuzzy" not in entry.flags, f"{language}: fuzzy {entry.msgid!r}"
        forms = nplurals if entry.plural is not None else 1
        assert sorted(entry.msgstr) == list(range(forms)), f"{language}: {entry.msgid!r}"
        for text in entry.msgstr.values():
            assert text.strip(), f"{language}: {entry.msgid!r} has no translation"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_placeholders_key_names_and_attributes_safe(language):
    _header, entries = read_po(catalogue(language))
    for entry in entries:
        source = entry.msgid + (entry.plural or "")
        for text in entry.msgstr.values():
            # A plural form for one count may say the number in words ("مهمة واحدة").
            if entry.plural is None:
                assert sorted(PLACEHOLDER.findall(text)) == sorted(
                    PLACEHOLDER.findall(entry.msgid)
                ), f"{language}: {entry.msgid!r} -> {text!r}"
            else:
                assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(source))
            # Keys are physical: 1, 2, A, B, T, S, Enter stay as they are.
            assert sorted(KBD.findall(text)) == sorted(KBD.findall(entry.msgid)), text
            # Some translations fill HTML attributes: no double quote may end one early.
            assert '"' not in text or '"' in source, f"{language}: {text!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_file_is_compiled_from_the_po_as_it_is(language):
    _header, entries = read_po(catalogue(language))
    with catalogue(language).with_suffix(".mo").open("rb") as compiled:
        mo = gettext.GNUTranslations(compiled)
    expected: dict[object, str] = {}
    for entry in entries:
        if entry.plural is None:
            expected[entry.key] = entry.msgstr[0]
        else:
            for index, text in entry.msgstr.items():
                expected[(entry.key, index)] = text
    found = {key: text for key, text in mo._catalog.items() if key != ""}
    assert found == expected, "run `python manage.py compilemessages` and commit the .mo"


def test_every_translate_tag_of_the_templates_is_in_the_catalogues():
    """A literal {% translate %} added to a template without makemessages would stay English."""
    tag = re.compile(r"""{%\s*translate\s+(["'])(.+?)\1(?:\s+context\s+(["'])(.+?)\3)?\s*%}""")
    wanted = set()
    for path in TEMPLATES.rglob("*.html"):
        if "admin" in path.relative_to(TEMPLATES).parts:
            continue
        for match in tag.finditer(path.read_text(encoding="utf-8")):
            context = match.group(4)
            wanted.add(f"{context}\x04{match.group(2)}" if context else match.group(2))
    assert len(wanted) > 50
    for language in TRANSLATED:
        _header, entries = read_po(catalogue(language))
        missing = wanted - {entry.key for entry in entries}
        assert not missing, f"{language}: run makemessages for {sorted(missing)}"
