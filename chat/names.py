"""Names as people see them: one normal form, and the skeletons that make look-alike names collide.

The skeleton is the one of Unicode's UTS #39 (section 4): NFD, map each character to the prototype
of its confusables class, NFD again; two names with the same skeleton look alike. The data is
Unicode's confusables.txt as shipped by confusable_homoglyphs.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata

# Letters that draw nothing. Python's \w takes them (they are Lo), so without this a guest could
# append one to a registered name and pass every other check. They are the Hangul fillers, the only
# letters among Unicode's Default_Ignorable_Code_Point characters; the rest are format characters
# (category Cf, stripped below) or combining marks, which \w and so NICKNAME_RE already refuse.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")

# Folding case after the mapping can turn a prototype into a character that maps again (0 -> O -> o):
# every single character settles within three rounds (checked over all of Unicode when written).
_MAX_ROUNDS = 5

# confusable_homoglyphs keeps confusables.txt as pairs of what the file shows in its comment column,
# which wraps right-to-left characters in this left-to-right mark; the mark is in no mapping itself.
_DISPLAY_MARK = "\u200e"


def _invisible(char: str) -> bool:
    category = unicodedata.category(char)
    # Tab, newline and friends are control characters too, but they separate words: collapsed below.
    return char in _INVISIBLE_LETTERS or (category in ("Cf", "Cc") and not char.isspace())


def name_normalize(name: str) -> str:
    """A name in NFKC, without invisible characters, its whitespace trimmed and collapsed to single spaces."""
    # Invisible characters go before NFKC, so that what they separated composes as the visible text does.
    visible = "".join(char for char in name if not _invisible(char))
    return " ".join(unicodedata.normalize("NFKC", visible).split())


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character mapped to its prototype, as in confusables.txt."""
    # The library has no skeleton and no prototype mapping (is_confusable only lists look-alikes), and
    # its data is symmetric: each line "source -> prototype" is stored both ways. The direction is
    # recovered from the shape of the file: every confusables class is one prototype and the sources
    # mapped to it, and no prototype is a source. So in a class of three or more the prototype is the
    # one entry that lists all the others; in a class of two, the one the library stored second, as it
    # writes each line's source before its prototype. Checked against confusables.txt 13.0.0 itself:
    # the mapping agrees on all 6307 sources the library carries. It lacks 4, none of which can reach
    # a mapping here: two line separators (whitespace, collapsed), the Hangul filler (removed above)
    # and CIRCLED CC (a symbol, which no name may hold).
    from confusable_homoglyphs import confusables

    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    position = {entry: index for index, entry in enumerate(data)}
    prototypes: dict[str, str] = {}
    placed: set[str] = set()
    for start in data:
        if start in placed:
            continue
        members, todo = {start}, [start]
        while todo:
            for other in data[todo.pop()]:
                if other["c"] not in members:
                    members.add(other["c"])
                    todo.append(other["c"])
        placed |= members
        if len(members) == 2:
            prototype = max(members, key=position.__getitem__)
        else:
            centres = [member for member in members if len(data[member]) == len(members) - 1]
            if len(centres) != 1:
                raise RuntimeError(f"confusable_homoglyphs data is not one prototype per class: {sorted(members)}")
            prototype = centres[0]
        for member in members - {prototype}:
            prototypes[member.replace(_DISPLAY_MARK, "")] = prototype.replace(_DISPLAY_MARK, "")
    return prototypes


def _uts39_skeleton(text: str) -> str:
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(char, char) for char in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def name_skeleton(name: str) -> str:
    """The UTS #39 skeleton of a name with case ignored: names with equal skeletons look alike."""
    # Case is folded before the mapping, not only after it: Unicode's table is case-sensitive (m -> rn
    # but M stays; capital I -> l), so folding last would let ADMIN past admin.
    text = name_normalize(name)
    for _ in range(_MAX_ROUNDS):
        folded = _uts39_skeleton(text.casefold())
        if folded == text:
            break
        text = folded
    return text


def name_skeleton_as_drawn(name: str) -> str:
    """The skeleton of a name read with its capitals as drawn: AIice (capital I) reads as Alice."""
    # Folding case first (name_skeleton) reads a capital by its small letter, which may look nothing
    # like it (I and i; Greek capital eta, drawn H, and its small letter, drawn n): so map them first.
    return name_skeleton(_uts39_skeleton(name_normalize(name)))


@functools.lru_cache(maxsize=65536)  # every join compares the joiner with everyone present
def name_skeleton_digests(name: str) -> tuple[str, str]:
    """Both skeletons of a name (case ignored, as drawn) as SHA-256 hex digests, for indexed columns."""
    # Digests, not the skeletons: a skeleton can be many times longer than its name (m -> rn, and one
    # Arabic ligature, a letter to \w, is 18 characters in NFKC); a digest always fits its column.
    return (
        hashlib.sha256(name_skeleton(name).encode()).hexdigest(),
        hashlib.sha256(name_skeleton_as_drawn(name).encode()).hexdigest(),
    )
