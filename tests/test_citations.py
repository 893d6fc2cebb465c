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
        "Whole homes dominate.[^1] Rents rose.[^2]\n\nNoise bothers residents.[^3]",
        '[^1]: study.md "About 64% of active listings are whole-home rentals."\n'
        '[^2]: study.md "Rents rose by 4%   in the harbour district."\n'
        '[^3]: folder with space/survey.md "Residents said "enough is enough" about noise"',
    )
    report = verify(md, SOURCES, gathered=set(SOURCES))
    assert report.ok, report.failures
    assert report.paragraphs == 2
    assert [(c.label, c.source) for c in report.citations] == [
        ("1", "study.md"),
        ("2", "study.md"),
        ("3", "folder with space/survey.md"),
    ]
    assert report.citations[2].quote == 'Residents said "enough is enough" about noise'


def test_fabricated_quote_fails() -> None:
    md = _brief("Rents doubled.[^1]", '[^1]: study.md "Rents doubled in every district."')
    report = verify(md, SOURCES)
    assert not report.ok
    (failure,) = report.failures
    assert failure.kind == "quote_not_found" and failure.label == "1"
    assert "[^1]" in failure.message and "study.md" in failure.message
    assert (
        failure.line
        == md.splitlines().index('[^1]: study.md "Rents doubled in every district."') + 1
    )


def test_altered_quote_fails_and_can_be_repaired() -> None:
    altered = "About 65% of active listings are whole-home rentals."
    md = _brief("Whole homes.[^1]", f'[^1]: study.md "{altered}"')
    assert kinds(md) == ["quote_not_found"]
    assert extract_quote_fix(altered, SOURCES["study.md"]) == (
        "About 64% of active listings are whole-home rentals."
    )
    assert extract_quote_fix("Something else entirely was said here.", SOURCES["study.md"]) is None


def test_uncited_paragraph_fails() -> None:
    md = _brief(
        "Cited.[^1]\n\nThis paragraph cites nothing.", '[^1]: other.md "Platforms share data"'
    )
    report = verify(md, SOURCES)
    assert [f.kind for f in report.failures] == ["uncited_paragraph"]
    assert "This paragraph cites nothing." in report.failures[0].message


def test_source_must_exist_and_be_gathered() -> None:
    md = _brief(
        "A.[^1] B.[^2]",
        '[^1]: nowhere.md "Anything at all."\n[^2]: other.md "Platforms share data monthly"',
    )
    assert kinds(md) == ["unknown_source"]
    assert kinds(md, gathered={"study.md"}) == ["unknown_source", "source_not_gathered"]


def test_definition_problems() -> None:
    md = _brief(
        "A.[^1] B.[^2] C.[^3] D.[^4] E.[^9]",
        '[^1]: other.md "Platforms share data"\n'
        '[^1]: other.md "Platforms share data"\n'
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
    md = _brief("One.[^1]\nstill one.\n\nTwo.[^1]", '[^1]: other.md "Platforms"')
    assert [text for _, text in body_paragraphs(md)] == ["One.[^1] still one.", "Two.[^1]"]
    assert [line for line, _ in body_paragraphs(md)] == [5, 8]


def test_report_renders_as_dict_and_markdown() -> None:
    md = _brief("Rents doubled.[^1]", '[^1]: study.md "Rents doubled."')
    report = verify(md, SOURCES)
    data = report.to_dict()
    assert data["ok"] is False and data["paragraphs"] == 1
    assert data["citations"] == [
        {"label": "1", "source": "study.md", "quote": "Rents doubled.", "line": 9}
    ]
    assert set(data["failures"][0]) == {"kind", "message", "label", "line"}
    text = report.to_markdown()
    assert text.startswith("# Citation check: failed (1 problems)")
    assert "**quote_not_found** line 9" in text


def test_parse_citations_keeps_order_and_lines() -> None:
    citations, failures = parse_citations('x\n[^a]: s.md "q1"\n[^b]: s.md "q2"\n')
    assert failures == []
    assert [(c.label, c.line) for c in citations] == [("a", 2), ("b", 3)]
