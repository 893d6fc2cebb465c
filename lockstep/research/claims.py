"""What a sentence of a brief claims, as code can check it against the quotes it cites.

A cited sentence must not say more than its quotes: every number (digits or number words),
month and negation it contains must appear in them, and most of its content words too
(`support`). Attribution words ("reports", "according", "sources") and the cited sources'
titles and file names are not claims. Body sentences come from the same segmenter as quotes
(pysbd), with quoted passages (“...”) kept whole so a quote's own full stops do not split the
sentence that carries it, and footnote markers kept with the sentence they close.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lockstep.research.quotes import split_sentences


def _split(words: str) -> list[str]:
    return re.findall(r"\S+", words)


__all__ = [
    "ATTRIBUTION_WORDS",
    "MARKER",
    "SUPPORT_THRESHOLD",
    "body_sentences",
    "content_words",
    "is_claim",
    "negations",
    "numbers",
    "support",
]

MARKER = re.compile(r"(?<!\\)\[\^([^\]\s\\]+)\](?!:)")
"""A footnote marker `[^n]` (an escaped `\\[^n\\]` from source text is not one)."""

SUPPORT_THRESHOLD = 0.6  # measured: benchmarks/support_threshold.py, BENCHMARKS.md
"""Least share of a cited sentence's content words found in its quotes (the cited sources'
titles and file names are taken out first). Measured on 7 offline briefs (sample corpus,
licence texts, package docs): every correct claim scored 1.00, every claim moved onto another
source's footnote at most 0.50 (median 0.09)."""

ATTRIBUTION_WORDS = frozenset(
    _split("""according reports report reported notes note noted states stated says said writes
    wrote finds found argues argued adds added estimates source sources document documents
    evidence agree agrees differ differs disagree side figures figure given cited cite cites
    also both while whereas together section sections brief gives give quoted quotes quote
    supported supports support opposed opposes oppose option options named names proposes
    proposed proposal mentions mentioned address addresses addressed weigh weighs point
    points way qualifies qualify title titled shared bear bears directly""")
)
_STOP = frozenset(
    _split("""a an the and or but if then than that this these those there their they them it its
    is are was were be been being has have had do does did of in on at by for to from with as
    into onto over under about after before between through during per via which who whom whose
    what when where why how all any each every some most more many much such other another
    same own so very can could would should may might must will shall just only even up out
    we our us you your he she his her him i me my not no nor""")
)
_NEGATIONS = frozenset(
    _split("not no never none nor cannot neither nobody nothing nowhere without unless")
)
_NUMBER_WORDS = frozenset(
    _split("""one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety
    hundred thousand million billion trillion half third quarter twice double triple dozen
    first second third fourth fifth percent january february march april may june july august
    september october november december""")
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z][a-z'’]*")
_QUOTED = re.compile(r"“[^”]*”")


def _words(text: str) -> list[str]:
    return _WORD.findall(MARKER.sub(" ", text).lower().replace("’", "'"))


def numbers(text: str) -> set[str]:
    """Numbers (digits without grouping commas or a trailing `.0`), number words and months."""
    found = {
        m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(MARKER.sub(" ", text))
    }
    found = {n[:-2] if n.endswith(".0") else n for n in found}
    return found | {w for w in _words(text) if w in _NUMBER_WORDS and w != "may"}


def negations(text: str) -> set[str]:
    """The negation words of `text` (`n't` counts as `not`)."""
    out = set()
    for w in _words(text):
        if w in _NEGATIONS:
            out.add(w)
        elif w.endswith("n't"):
            out.add("not")
    return out


def _stem(word: str) -> str:
    return word.strip("'")[:5]


def content_words(text: str) -> set[str]:
    """Stems (first five letters) of the words of `text` that carry a claim."""
    return {
        _stem(w)
        for w in _words(text)
        if len(w) > 2 and w not in _STOP and w not in ATTRIBUTION_WORDS
    }


def support(sentence: str, quotes: Iterable[str], names: Iterable[str] = ()) -> float:
    """Share of the sentence's content words found in `quotes` or the sources' `names`."""
    words = content_words(sentence)
    if not words:
        return 1.0
    pool: set[str] = set()
    for text in [*quotes, *names]:
        pool |= content_words(text.replace("-", " ").replace("/", " ").replace(".", " "))
        pool |= content_words(text)
    return len(words & pool) / len(words)


def is_claim(sentence: str) -> bool:
    """A sentence that asserts something: not a lead-in ending with `:`, and with at least
    three content words."""
    plain = MARKER.sub("", sentence).strip()
    return not plain.endswith(":") and len(content_words(plain)) >= 3


def body_sentences(paragraph: str, names: Iterable[str] = ()) -> list[str]:
    """The sentences of a body paragraph; a sentence's trailing footnote markers stay on it.
    Quoted passages and the sources' `names` (titles, file names) are not split: a plain-text
    title that is itself a sentence ("This package contains the GNU find programs.") or holds
    a URL is one name, not a sentence boundary."""
    masked = _QUOTED.sub(lambda m: "“" + "x" * (len(m.group(0)) - 2) + "”", paragraph)
    for name in sorted({n for n in names if n.strip()}, key=lambda n: (-len(n), n)):
        masked = masked.replace(name, "x" * len(name))
    spans = split_sentences(masked)
    out: list[str] = []
    for start, end in spans:
        text = paragraph[start:end]
        lead = re.match(r"^(?:\s*\[\^[^\]\s]+\])+", text)
        if lead and out:  # markers the segmenter put at the start belong to the sentence before
            out[-1] += lead.group(0).strip()
            text = text[lead.end() :]
        if text.strip():
            out.append(text.strip())
    return out
