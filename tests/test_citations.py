"""The citation verifier: quotes must occur verbatim in gathered sources, paragraphs must cite."""

from __future__ import annotations

from lockstep.research.citations import (
    FAILURE_KINDS,
    body_paragraphs,
    extract_quote_fix,
    parse_citations,
    verify,
)

SOURCES = {
    "study.md": "# Study\n\nAbout 64% of active listings are whole-home rentals.\nRents rose\n"
    "by 4% in the harbour district.",
    "folder with space/survey.md": 'Residents said "enough is enough" about noise at night.',
    "other.md": "Platforms share data monthly under the agreement.",
}


def _brief(body: str, definitions: str) -> str:
    return f"# Brief\n\n## Findings\n\n{body}\n\n---\n\n{definitions}\n"


def kinds(md: str, gathered: set[str] | None = None) -> list[str]:
    return [f.kind for f in verify(md, SOURCES, gathered).failures]


def test_genuine_quotes_pass_with_whitespace_normalised() -> None:
    md = _brief(
        "About 64% of active listings are whole-home rentals.[^1] Rents rose by 4% in the "
        "harbour district.[^2]\n\nResidents said enough is enough about noise at night.[^3]",
        '[^1]: study.md "About 64% of active listings are whole-home rentals."\n'
        '[^2]: study.md "Rents rose by 4%   in the harbour district."\n'
        '[^3]: folder with space/survey.md "Residents said "enough is enough" about noise at '
        'night."',
    )
    report = verify(md, SOURCES, gathered=set(SOURCES))
    assert report.ok, report.failures
    assert report.paragraphs == 2
    assert [(c.label, c.source) for c in report.citations] == [
        ("1", "study.md"),
        ("2", "study.md"),
        ("3", "folder with space/survey.md"),
    ]
    assert report.citations[2].quote == 'Residents said "enough is enough" about noise at night.'


def test_fabricated_quote_fails() -> None:
    md = _brief(
        "Rents doubled in every district.[^1]", '[^1]: study.md "Rents doubled in every district."'
    )
    report = verify(md, SOURCES)
    assert not report.ok
    (failure,) = report.failures
    assert failure.kind == "quote_not_found" and failure.label == "1"
    assert "[^1]" in failure.message and "study.md" in failure.message
    assert failure.text == "Rents doubled in every district."
    assert (
        failure.line
        == md.splitlines().index('[^1]: study.md "Rents doubled in every district."') + 1
    )


def test_altered_quote_fails_and_can_be_repaired() -> None:
    altered = "About 65% of active listings are whole-home rentals."
    md = _brief(
        "About 65% of active listings are whole-home rentals.[^1]", f'[^1]: study.md "{altered}"'
    )
    assert kinds(md) == ["quote_not_found"]
    assert extract_quote_fix(altered, SOURCES["study.md"]) == (
        "About 64% of active listings are whole-home rentals."
    )
    assert extract_quote_fix("Something else entirely was said here.", SOURCES["study.md"]) is None


def test_uncited_paragraph_fails() -> None:
    md = _brief(
        "Platforms share data monthly under the agreement.[^1]\n\nThis paragraph cites nothing "
        "about platforms at all.",
        '[^1]: other.md "Platforms share data monthly under the agreement."',
    )
    report = verify(md, SOURCES)
    assert [f.kind for f in report.failures] == ["uncited_paragraph"]
    assert "This paragraph cites nothing" in report.failures[0].message


def test_source_must_exist_and_be_gathered() -> None:
    md = _brief(
        "Anything at all was said somewhere.[^1] Platforms share data monthly under the "
        "agreement.[^2]",
        '[^1]: nowhere.md "Anything at all was said somewhere."\n'
        '[^2]: other.md "Platforms share data monthly under the agreement."',
    )
    assert kinds(md) == ["unknown_source"]
    assert kinds(md, gathered={"study.md"}) == ["unknown_source", "source_not_gathered"]


def test_definition_problems() -> None:
    share = "Platforms share data monthly under the agreement."
    md = _brief(
        f"{share}[^1] {share}[^2] {share}[^3] {share}[^4] {share}[^9]",
        f'[^1]: other.md "{share}"\n'
        f'[^1]: other.md "{share}"\n'
        "[^2]: other.md no quote here\n"
        '[^3]: other.md ""\n'
        '[^4]: "a quote without a source"',
    )
    report = verify(md, SOURCES)
    assert sorted(f.kind for f in report.failures) == sorted(
        [
            "duplicate_definition",
            "malformed_definition",
            "empty_quote",
            "malformed_definition",
            "missing_definition",
        ]
    )
    assert {f.kind for f in report.failures} <= set(FAILURE_KINDS)
    missing = [f for f in report.failures if f.kind == "missing_definition"]
    assert missing[0].label == "9" and "[^9]" in missing[0].message


def test_paragraphs_exclude_headings_rules_and_definitions() -> None:
    md = _brief("One.[^1]\nstill one.\n\nTwo.[^1]\n\n- item a[^1]\n- item b", '[^1]: o.md "P"')
    assert [text for _, text in body_paragraphs(md)] == [
        "One.[^1] still one.",
        "Two.[^1]",
        "item a[^1]",
        "item b",
    ]
    assert [line for line, _ in body_paragraphs(md)] == [5, 8, 10, 11]


def test_report_renders_as_dict_and_markdown() -> None:
    md = _brief("Rents doubled.[^1]", '[^1]: study.md "Rents doubled."')
    report = verify(md, SOURCES)
    data = report.to_dict()
    assert data["ok"] is False and data["paragraphs"] == 1
    assert data["citations"] == [
        {"label": "1", "source": "study.md", "quote": "Rents doubled.", "line": 9}
    ]
    assert set(data["failures"][0]) == {"kind", "message", "label", "line", "text"}
    text = report.to_markdown()
    assert text.startswith("# Citation check: failed (1 problems)")
    assert "**quote_not_found** line 9" in text


def test_parse_citations_keeps_order_and_lines() -> None:
    citations, failures = parse_citations('x\n[^a]: s.md "q1"\n[^b]: s.md "q2"\n')
    assert failures == []
    assert [(c.label, c.line) for c in citations] == [("a", 2), ("b", 3)]


# -- the fabrications that are not quote edits, each caught by a named rule ---------

LISTINGS = "About 64% of active listings are whole-home rentals."
NOT_ADOPTED = {
    "council.md": "The council has not adopted the 90-night cap, and a vote is expected in "
    "March 2026.\n\nStaff recommend registration for every host."
}


def _rules(md: str, sources: dict[str, str] | None = None) -> list[tuple[str, str | None]]:
    return [(f.kind, f.label) for f in verify(md, sources or SOURCES, None).failures]


def test_a_real_fragment_is_not_a_quote() -> None:
    md = _brief("The listings are whole-home rentals.[^1]", '[^1]: study.md "the"')
    assert ("partial_quote", "1") in _rules(
        _brief("Active listings.[^1]", '[^1]: study.md "active"')
    )
    assert ("partial_quote", "1") in _rules(md)


def test_a_substring_that_drops_a_negation_fails() -> None:
    md = _brief(
        "The council has adopted the 90-night cap.[^1]",
        '[^1]: council.md "adopted the 90-night cap, and a vote is expected in March 2026."',
    )
    rules = _rules(md, NOT_ADOPTED)
    assert ("partial_quote", "1") in rules or ("dropped_negation", "1") in rules
    clause = _brief(
        "A vote is expected in March 2026.[^1]",
        '[^1]: council.md "and a vote is expected in March 2026."',
    )
    assert _rules(clause, NOT_ADOPTED) == []  # a clause of six words or more is a fair quote


def test_a_changed_number_in_the_prose_fails() -> None:
    md = _brief(
        "About 74% of active listings are whole-home rentals.[^1]", f'[^1]: study.md "{LISTINGS}"'
    )
    assert _rules(md) == [("number_not_in_quote", "1")]
    march = _brief(
        "The council vote on the cap is expected in June 2026.[^1]",
        '[^1]: council.md "The council has not adopted the 90-night cap, and a vote '
        'is expected in March 2026."',
    )
    assert ("number_not_in_quote", "1") in _rules(march, NOT_ADOPTED)


def test_a_dropped_or_added_negation_in_the_prose_fails() -> None:
    md = _brief("Active listings are not whole-home rentals.[^1]", f'[^1]: study.md "{LISTINGS}"')
    assert ("negation_not_in_quote", "1") in _rules(md)


def test_an_invented_sentence_inside_a_cited_paragraph_fails() -> None:
    md = _brief(
        f"{LISTINGS}[^1] The council therefore banned every rental in the harbour district.",
        f'[^1]: study.md "{LISTINGS}"',
    )
    failures = verify(md, SOURCES).failures
    assert [f.kind for f in failures] == ["uncited_sentence"]
    assert failures[0].text and "banned every rental" in failures[0].text


def test_an_invented_claim_pinned_on_a_valid_footnote_fails() -> None:
    md = _brief(
        "Hotels in the harbour district lost revenue to unlicensed operators last summer.[^1]",
        f'[^1]: study.md "{LISTINGS}"',
    )
    assert _rules(md) == [("unsupported_claim", "1")]


def test_a_definition_no_marker_references_fails() -> None:
    md = _brief(
        f"{LISTINGS}[^1]",
        f'[^1]: study.md "{LISTINGS}"\n'
        '[^2]: other.md "Platforms share data monthly under the agreement."',
    )
    assert _rules(md) == [("unreferenced_definition", "2")]


def test_escaped_source_text_round_trips_and_is_inert() -> None:
    from markdown_it import MarkdownIt

    from lockstep.research.escape import escape_markdown, unescape_markdown

    hostile = 'See [^1] and [x](javascript:alert(1)) <img src=x onerror=y> ![i](u) **b** `c` "q"'
    escaped = escape_markdown(hostile)
    assert unescape_markdown(escaped) == hostile
    html = MarkdownIt("commonmark").render(escaped)
    assert "<a" not in html and "<img" not in html and "<strong>" not in html
    assert "<code>" not in html and "[^1]" in html
    source = {"s.md": f"The committee wrote that {hostile} in its annual report."}
    quote = escape_markdown(source["s.md"])
    md = _brief(f"s.md states: “{quote}”[^1]", f'[^1]: s.md "{quote}"')
    report = verify(md, source)
    assert report.citations[0].quote == source["s.md"]
    assert [f.kind for f in report.failures] == []
