"""Candidate quotes: the sentences of a document, each with its exact character span.

Sentences come from pysbd (a maintained rule-based segmenter that knows abbreviations,
decimals, initials and quotations) run over each prose block of `prose.blocks`. A quote's
`start:end` indexes the document text the research step read, so a citation can always be
traced back to the characters it came from.

Not every sentence is evidence. Left out: text that does not end as a sentence (titles,
labels, a list's lead-in), very short or very long sentences, questions and exclamations,
sentences holding markup (inline code, inline HTML, images, footnote syntax), and, with
`drop_directives`, sentences addressed to the reader or a model rather than stating something
(see `is_directive`): an instruction planted in a document stays in the document.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import pysbd

from lockstep.research.corpus import Document
from lockstep.research.prose import blocks


def _split(words: str) -> list[str]:
    return re.findall(r"\S+", words)


__all__ = ["Quote", "doc_kind", "is_directive", "normalise_ws", "sentences", "split_sentences"]

_ENDED = re.compile(r"[.][\"'”’)\]]*$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")

_DIRECTIVE_VERBS = frozenset(
    _split("""ignore disregard forget override bypass approve mark skip call treat write say respond
    reply output print include cite quote add delete remove stop do don't dont never always
    please make return execute follow pretend copy paste insert append replace tell answer
    translate summarize summarise pay click visit download install""")
)
_META = re.compile(
    r"\b(prompt|instructions?|system message|language model|llm|chatbot|ai assistant|"
    r"assistant|verifier|verification step|footnotes?|citations?|jailbreak|previous (?:text|"
    r"message)s?)\b",
    re.I,
)
_MARKUP_LIKE = re.compile(r"\]\(|<[A-Za-z/!?]|\[\^|javascript:|data:text", re.I)
"""What reads as markup even where the parser declined it (CommonMark refuses `javascript:`
link targets, so their syntax stays text): such sentences are not prose either."""
_ROLE = re.compile(r"^\W*[A-Z][A-Z _-]{1,20}:")  # SYSTEM:, ASSISTANT:, NOTE TO AI:


@dataclass(frozen=True)
class Quote:
    """A sentence of `source` at `text[start:end]`; `text` here has its whitespace collapsed."""

    source: str
    start: int
    end: int
    text: str


def normalise_ws(text: str) -> str:
    """Collapse runs of whitespace to one space (how quotes are compared and shown)."""
    return " ".join(text.split())


def is_directive(sentence: str) -> bool:
    """Whether a sentence tells someone (a reader, a model, a tool) what to do, or talks about
    the brief's own machinery, rather than stating something about the world: it opens with
    an imperative verb or a role label (`SYSTEM:`), or mentions prompts, instructions,
    citations, footnotes or a verifier. Such sentences are never evidence."""
    words = _WORD.findall(sentence)
    if not words:
        return True
    proper = len(words) > 1 and words[1][:1].isupper()  # "Visit Calder Bay estimates ..."
    if (words[0].lower() in _DIRECTIVE_VERBS and not proper) or _ROLE.match(sentence):
        return True
    return bool(_META.search(sentence))


_LOCAL = threading.local()


def _segmenter() -> pysbd.Segmenter:
    """One segmenter per thread: `Segmenter.segment` keeps the text it is working on in the
    object, so two threads sharing one (a worker's job slots) get each other's sentences."""
    segmenter: pysbd.Segmenter | None = getattr(_LOCAL, "segmenter", None)
    if segmenter is None:
        segmenter = _LOCAL.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text` (pysbd), whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter().segment(text):
        stripped = piece.strip()
        if not stripped:
            continue
        at = text.find(stripped, cursor)
        if at < 0:  # pysbd changed the text (it should not with clean=False): skip it
            continue
        spans.append((at, at + len(stripped)))
        cursor = at + len(stripped)
    return spans


def doc_kind(path: str) -> str:
    """`markdown`, `html` or `text`: how a document's prose blocks are found."""
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        return "markdown"
    if lower.endswith((".html", ".htm")):
        return "html"
    return "text"


def sentences(
    doc: Document,
    min_words: int = 8,
    max_words: int = 60,
    *,
    drop_directives: bool = False,
    keep_markup: bool = False,
) -> list[Quote]:
    """The quotable sentences of `doc`, in document order; `drop_directives` also leaves out
    sentences that instruct rather than state (what a policy brief's evidence must be; a
    training course quotes a policy's instructions on purpose); `keep_markup` keeps every
    sentence, with markup or unended (the verifier's view of where sentences start and end)."""
    quotes: list[Quote] = []
    text = doc.text
    for block in blocks(text, doc_kind(doc.path)):
        joined, offsets = "", list[int]()
        for start, end in block.spans:  # the block's lines joined by one space
            if joined:
                joined += " "
                offsets.append(start - 1)
            joined += text[start:end]
            offsets.extend(range(start, end))
        for start, end in split_sentences(joined):
            raw = joined[start:end]
            words = raw.split()
            ended = keep_markup or _ENDED.search(raw)
            if not (min_words <= len(words) <= max_words) or not ended:
                continue
            markup = _MARKUP_LIKE.search(raw) or any(m in raw for m in block.markup)
            if not keep_markup and markup:
                continue
            if drop_directives and is_directive(raw):
                continue
            doc_start, doc_end = offsets[start], offsets[end - 1] + 1
            quote = normalise_ws(text[doc_start:doc_end])
            if quote != normalise_ws(raw):
                continue  # a sentence across a quote marker or indentation marker: not clean
            quotes.append(Quote(doc.path, doc_start, doc_end, quote))
    return quotes
