"""Does the support threshold (`claims.SUPPORT_THRESHOLD`) separate true citations from
mis-pinned ones on real briefs?

    python benchmarks/support_threshold.py [--docs 200]

Runs offline briefs on the sample corpus and on the real document sets of
`benchmarks/real_corpora.py` (licence texts, package docs), then scores every cited body
sentence that makes a claim (`claims.is_claim`: three content words once the sources'
names are taken out) with `claims.support` twice: against the quotes it cites (correct), and
with its footnotes moved to another footnote of the same brief whose quote shares no source
with it (mis-pinned, the "invented claim pinned on a valid footnote" class). Prints both
distributions and how many of each fall on either side of the threshold.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.real_corpora import TOPICS, build_docs, build_licences
from lockstep import Lockstep
from lockstep.research.checking import brief_titles
from lockstep.research.citations import body_paragraphs, parse_citations
from lockstep.research.claims import (
    MARKER,
    SUPPORT_THRESHOLD,
    body_sentences,
    is_claim,
    support,
)
from lockstep.research.escape import escape_markdown, unescape_markdown

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TOPICS = [
    "Should Calder Bay cap and register short-term rentals?",
    "What do residents and hotels say about short-term rental enforcement?",
]


def scores(markdown: str, titles: dict[str, str]) -> tuple[list[float], list[float]]:
    citations, _ = parse_citations(markdown)
    by_label = {c.label: c for c in citations}
    names = {n for k, t in titles.items() for n in (k, t, escape_markdown(k), escape_markdown(t))}
    right: list[float] = []
    wrong: list[float] = []
    for _, text in body_paragraphs(markdown):
        for sentence in body_sentences(text, names):
            cited = [by_label[x] for x in MARKER.findall(sentence) if x in by_label]
            if not cited:
                continue
            plain = unescape_markdown(MARKER.sub("", sentence))
            for name in sorted(names, key=lambda n: (-len(n), n)):
                plain = plain.replace(name, " ")
            if not is_claim(plain):
                continue  # "X and Y point the same way": no content word left to check
            right.append(support(plain, [c.quote for c in cited]))
            sources = {c.source for c in cited}
            others = [c for c in citations if c.source not in sources]
            if others:  # the claim moved onto another source's footnote
                pinned = others[len(right) * 7 % len(others)]  # spread, reproducible
                wrong.append(support(plain, [pinned.quote]))
    return right, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    args = parser.parse_args()
    right: list[float] = []
    wrong: list[float] = []
    briefs = 0
    with tempfile.TemporaryDirectory() as tmp:
        build_licences(Path(tmp) / "licences")
        build_docs(Path(tmp) / "docs", args.docs)
        runs = [(ROOT / "examples" / "corpus", t) for t in SAMPLE_TOPICS]
        runs += [(Path(tmp) / kind, t) for kind, topics in TOPICS.items() for t in topics]
        with Lockstep(f"sqlite:///{Path(tmp) / 'db.sqlite'}") as client:
            for folder, topic in runs:
                st = client.run("brief", topic=topic, sources=[str(folder)])
                if st.status != "completed":
                    print(f"skipped ({st.status}): {topic}")
                    continue
                briefs += 1
                final = client.artifact(st.thread_id, "final")[1].decode()
                report = client.artifacts.json(client.artifacts.latest(st.thread_id, "sources"))
                r, w = scores(final, brief_titles(report["sources"]))
                right += r
                wrong += w
    t = SUPPORT_THRESHOLD

    def show(name: str, xs: list[float], passing: int) -> None:
        q = statistics.quantiles(xs, n=20) if len(xs) > 1 else xs
        print(
            f"{name:11} n={len(xs):4}  min {min(xs):.2f}  p5 {q[0]:.2f}  median "
            f"{statistics.median(xs):.2f}  p95 {q[-1]:.2f}  max {max(xs):.2f}  "
            f">= {t}: {passing}"
        )

    print(f"{briefs} briefs")
    show("correct", right, sum(x >= t for x in right))
    show("mis-pinned", wrong, sum(x >= t for x in wrong))


if __name__ == "__main__":
    main()
