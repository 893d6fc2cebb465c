"""A SCORM 1.2 package from a course design: the manifest, one course SCO, its runtime.

One SCO for the whole course, not one per module: SCORM 1.2 has no sequencing or rollup, so
with several SCOs each LMS decides for itself how (or whether) their statuses and scores add
up to a course result, and many report only the last SCO launched. One SCO gives every LMS
one `lesson_status` and one score to report. Inside it the learner moves page by page
(`index.html`, one section at a time), and `cmi.core.lesson_location` and `cmi.suspend_data`
bring them back where they left off.

The page scores the quiz itself (`static/scorm.js`); the answer key is data inside the SCO,
never in the manifest. SCORM 1.2 runs all of this in the learner's browser, so a determined
learner can read the key: it keeps the answers out of the LMS's catalogue, it is no secret.

Written by hand with the standard library: SCORM 1.2 is a small, frozen format. The package
carries the four SCORM 1.2 schema files (`schemas/`) and `package_problems` validates the
manifest against them.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["MASTERY_SCORE", "SCHEMAS", "build_package", "package_problems", "schema_problems"]

MASTERY_SCORE = 80
"""Percent of quiz answers right to pass (also the manifest's `adlcp:masteryscore`)."""
SCHEMAS = ("imscp_rootv1p1p2.xsd", "adlcp_rootv1p2.xsd", "imsmd_rootv1p2p1.xsd", "ims_xml.xsd")
"""The SCORM 1.2 schema files every package carries at its root."""
RUNTIME = ("scorm.js", "course.css")
"""The SCO's hand-written static files (package data in `static/`)."""

NS = {
    "": "http://www.imsproject.org/xsd/imscp_rootv1p1p2",
    "adlcp": "http://www.adlnet.org/xsd/adlcp_rootv1p2",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
_CP, _ADL, _XSI = (f"{{{NS[k]}}}" for k in ("", "adlcp", "xsi"))
_IMSMD = "http://www.imsglobal.org/xsd/imsmd_rootv1p2p1"
_XML_DEFAULT = b'xmlns="http://www.w3.org/XML/1998/namespace"'
_LOCATION = (
    f"{NS['']} imscp_rootv1p1p2.xsd {_IMSMD} imsmd_rootv1p2p1.xsd {NS['adlcp']} adlcp_rootv1p2.xsd"
)


def _data(folder: str, name: str) -> bytes:
    return resources.files("lockstep.training").joinpath(folder, name).read_bytes()


def _json_for_script(value: Any) -> str:
    """JSON safe inside <script>: no `</script>`, no HTML comment openers."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _responses(item: dict[str, Any]) -> tuple[str, list[str]]:
    """The SCORM 1.2 interaction type and the response value of each option."""
    if item.get("type") == "true-false":
        return "true-false", ["t", "f"]
    return "choice", [chr(97 + i) for i in range(len(item.get("options", [])))]


def _quiz(design: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    items = design.get("assessments", [])
    parts = [
        '<section id="quiz" class="page" aria-labelledby="quiz-title">',
        '<h1 id="quiz-title" tabindex="-1">Knowledge check</h1>',
        f"<p>{len(items)} questions. You need {MASTERY_SCORE}% to pass; you can try again.</p>",
        '<form id="quiz-form">',
    ]
    key = []
    for n, item in enumerate(items, start=1):
        kind, values = _responses(item)
        qid = escape(item["id"])
        options = "\n".join(
            f'<label><input type="radio" name="{qid}" value="{v}"> {escape(text)}</label>'
            for v, text in zip(values, item.get("options", []), strict=False)
        )
        parts += [
            f'<fieldset class="question" id="{qid}">',
            f"<legend>Question {n} of {len(items)}</legend>",
            f"<p>{escape(item['stem'])}</p>",
            options,
            '<p class="feedback" aria-live="polite" hidden></p>',
            "</fieldset>",
        ]
        key.append(
            {
                "id": item["id"],
                "type": kind,
                "answer": values[int(item["answer"])] if values else "",
                "objective": (item.get("objectives") or [""])[0],
                "why": item.get("explanation", ""),
            }
        )
    parts += [
        '<p><button type="submit">Submit answers</button></p>',
        "</form>",
        '<p id="result" role="status" aria-live="polite"></p>',
        '<p><button type="button" id="retry" class="secondary" hidden>Try again</button> ',
        '<button type="button" id="finish">Finish</button></p>',
        '<p id="status" role="status"></p>',
        "</section>",
    ]
    return "\n".join(parts), key


def course_page(design: dict[str, Any]) -> str:
    """The SCO's one page: every module as a section, then the quiz, then its data."""
    title = design.get("title", "Course")
    modules = design.get("modules", [])
    nav = [f'<li><a href="#{escape(m["id"])}">{escape(m["title"])}</a></li>' for m in modules]
    nav.append('<li><a href="#quiz">Knowledge check</a></li>')
    sections = []
    for n, m in enumerate(modules):
        after = (
            modules[n + 1] if n + 1 < len(modules) else {"id": "quiz", "title": "Knowledge check"}
        )
        sections.append(
            f'<section id="{escape(m["id"])}" class="page">\n{m.get("body", "")}\n'
            f'<p class="next"><a href="#{escape(after["id"])}">Next: {escape(after["title"])}'
            "</a></p>\n</section>"
        )
    quiz, key = _quiz(design)
    practice = {m["practice"]["id"]: m["practice"] for m in modules if m.get("practice")}
    data = {"mastery": MASTERY_SCORE, "questions": key, "practice": practice}
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(design.get("language", "en"))}">\n<head>\n'
        '<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, '
        'initial-scale=1">\n'
        f'<title>{escape(title)}</title>\n<link rel="stylesheet" href="course.css">\n</head>\n'
        f'<body>\n<header><p>{escape(title)}</p><p id="learner" role="status"></p></header>\n'
        f'<nav aria-label="Course contents"><ol>\n{chr(10).join(nav)}\n</ol></nav>\n'
        f"<main>\n{chr(10).join(sections)}\n{quiz}\n</main>\n"
        f'<script type="application/json" id="course-data">{_json_for_script(data)}</script>\n'
        '<script src="scorm.js"></script>\n</body>\n</html>\n'
    )


def _manifest(design: dict[str, Any], identifier: str) -> bytes:
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    manifest = ET.Element(
        f"{_CP}manifest",
        {"identifier": identifier, "version": "1.0", f"{_XSI}schemaLocation": _LOCATION},
    )
    metadata = ET.SubElement(manifest, f"{_CP}metadata")
    ET.SubElement(metadata, f"{_CP}schema").text = "ADL SCORM"
    ET.SubElement(metadata, f"{_CP}schemaversion").text = "1.2"
    orgs = ET.SubElement(manifest, f"{_CP}organizations", {"default": "ORG-1"})
    org = ET.SubElement(orgs, f"{_CP}organization", {"identifier": "ORG-1"})
    ET.SubElement(org, f"{_CP}title").text = design.get("title", "Course")
    item = ET.SubElement(
        org, f"{_CP}item", {"identifier": "ITEM-COURSE", "identifierref": "RES-COURSE"}
    )
    ET.SubElement(item, f"{_CP}title").text = design.get("title", "Course")
    ET.SubElement(item, f"{_ADL}masteryscore").text = str(MASTERY_SCORE)
    res = ET.SubElement(manifest, f"{_CP}resources")
    resource = ET.SubElement(
        res,
        f"{_CP}resource",
        {
            "identifier": "RES-COURSE",
            "type": "webcontent",
            f"{_ADL}scormtype": "sco",
            "href": "index.html",
        },
    )
    for name in ("index.html", *RUNTIME):
        ET.SubElement(resource, f"{_CP}file", {"href": name})
    xml: bytes = ET.tostring(manifest, encoding="utf-8", xml_declaration=True)
    return xml


def build_package(design: dict[str, Any], identifier: str) -> bytes:
    """The zip bytes of a SCORM 1.2 package for `design` (deterministic for the same input)."""
    files = [
        ("imsmanifest.xml", _manifest(design, identifier)),
        ("index.html", course_page(design).encode()),
        *((name, _data("static", name)) for name in RUNTIME),
        *((name, _data("schemas", name)) for name in SCHEMAS),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buffer.getvalue()


def schema_problems(zf: zipfile.ZipFile) -> list[str]:
    """The manifest checked against the SCORM 1.2 XSDs the package itself carries."""
    import xmlschema

    names = set(zf.namelist())
    missing = [s for s in SCHEMAS if s not in names]
    if missing:
        return [f"schema file {s} is missing" for s in missing]
    with tempfile.TemporaryDirectory() as tmp:
        for name in (*SCHEMAS, "imsmanifest.xml"):
            Path(tmp, name).write_bytes(zf.read(name))
        # ims_xml.xsd binds the default namespace to the XML namespace, which namespace-aware
        # parsers refuse; without that one binding (nothing in it uses it) it loads as it is
        xml_xsd = Path(tmp, "ims_xml.xsd")
        xml_xsd.write_bytes(xml_xsd.read_bytes().replace(_XML_DEFAULT, b"", 1))
        try:
            schema = xmlschema.XMLSchema11(
                str(Path(tmp, "imscp_rootv1p1p2.xsd")),
                locations=[
                    (NS["adlcp"], str(Path(tmp, "adlcp_rootv1p2.xsd"))),
                    (_IMSMD, str(Path(tmp, "imsmd_rootv1p2p1.xsd"))),
                ],
            )
            errors = list(schema.iter_errors(str(Path(tmp, "imsmanifest.xml"))))
        except (xmlschema.XMLSchemaException, ET.ParseError) as exc:
            return [f"the SCORM 1.2 schemas do not load: {exc}"]
    return [f"imsmanifest.xml is not valid SCORM 1.2: {e.reason} at {e.path}" for e in errors]


def package_problems(data: bytes) -> list[str]:
    """What keeps `data` from being a valid SCORM 1.2 package (empty when it is one)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return ["not a zip file"]
    names = set(zf.namelist())
    if "imsmanifest.xml" not in names:
        return ["imsmanifest.xml is missing"]
    try:
        # packages checked here are ones lockstep built; expat resolves no external entities
        root = ET.fromstring(zf.read("imsmanifest.xml"))  # noqa: S314
    except ET.ParseError as exc:
        return [f"imsmanifest.xml is not XML: {exc}"]
    problems = []
    if root.tag != f"{_CP}manifest" or not root.get("identifier"):
        problems.append("root element must be an identified <manifest>")
    if root.findtext(f"{_CP}metadata/{_CP}schema") != "ADL SCORM":
        problems.append("metadata/schema must be 'ADL SCORM'")
    if root.findtext(f"{_CP}metadata/{_CP}schemaversion") != "1.2":
        problems.append("metadata/schemaversion must be '1.2'")
    orgs = root.find(f"{_CP}organizations")
    resources_ = root.find(f"{_CP}resources")
    if orgs is None or resources_ is None:
        return [*problems, "organizations and resources are required"]
    default = orgs.get("default")
    org_ids = {o.get("identifier") for o in orgs.findall(f"{_CP}organization")}
    if default not in org_ids:
        problems.append(f"default organization {default!r} is not declared")
    ids = [e.get("identifier") for e in root.iter() if e.get("identifier")]
    duplicates = sorted({i for i in ids if ids.count(i) > 1 and i})
    if duplicates:
        problems.append(f"identifiers are not unique: {', '.join(duplicates)}")
    resource_ids = {r.get("identifier") for r in resources_.findall(f"{_CP}resource")}
    for item in orgs.iter(f"{_CP}item"):
        if not item.findtext(f"{_CP}title"):
            problems.append(f"item {item.get('identifier')} has no title")
        if item.get("identifierref") not in resource_ids:
            problems.append(f"item {item.get('identifier')} refers to an unknown resource")
    for resource in resources_.findall(f"{_CP}resource"):
        if resource.get(f"{_ADL}scormtype") not in ("sco", "asset"):
            problems.append(f"resource {resource.get('identifier')} has no adlcp:scormtype")
        hrefs = {resource.get("href")} | {f.get("href") for f in resource.findall(f"{_CP}file")}
        for href in sorted(h for h in hrefs if h):
            if href not in names:
                problems.append(f"href {href} is not in the package")
    return problems or schema_problems(zf)
