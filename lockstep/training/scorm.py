"""A SCORM 1.2 package from a course design: manifest, one page per module, the quiz.

Written by hand with the standard library: SCORM 1.2 is a small, frozen format (a zip with
`imsmanifest.xml`), and no well-kept Python library writes it. `package_problems` checks a
package against the structure the tests and the export step both rely on.
"""

from __future__ import annotations

import io
import zipfile
from html import escape
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["build_package", "package_problems"]

NS = {
    "": "http://www.imsproject.org/xsd/imscp_rootv1p1p2",
    "adlcp": "http://www.adlnet.org/xsd/adlcp_rootv1p2",
    "lockstep": "urn:lockstep:answer-key",
}
_CP, _ADL, _KEY = (f"{{{NS[k]}}}" for k in ("", "adlcp", "lockstep"))


def _page(title: str, body: str, language: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(language)}">\n<head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _quiz(design: dict[str, Any]) -> str:
    parts = ["<h1>Knowledge check</h1>"]
    for n, item in enumerate(design.get("assessments", []), start=1):
        options = "".join(
            f'<li><label><input type="radio" name="{escape(item["id"])}" value="{i}"> '
            f"{escape(text)}</label></li>"
            for i, text in enumerate(item.get("options", []))
        )
        parts.append(f"<h2>Question {n}</h2>\n<p>{escape(item['stem'])}</p>\n<ol>{options}</ol>")
    return "\n".join(parts)


def build_package(design: dict[str, Any], identifier: str) -> bytes:
    """The zip bytes of a SCORM 1.2 package for `design` (deterministic for the same input)."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    language = design.get("language", "en")
    manifest = ET.Element(f"{_CP}manifest", {"identifier": identifier, "version": "1.0"})
    metadata = ET.SubElement(manifest, f"{_CP}metadata")
    ET.SubElement(metadata, f"{_CP}schema").text = "ADL SCORM"
    ET.SubElement(metadata, f"{_CP}schemaversion").text = "1.2"
    key = ET.SubElement(metadata, f"{_KEY}answerKey")
    for item in design.get("assessments", []):
        ET.SubElement(
            key,
            f"{_KEY}item",
            {
                "ref": item["id"],
                "answer": str(item["answer"]),
                "objectives": " ".join(item.get("objectives", [])),
            },
        )
    orgs = ET.SubElement(manifest, f"{_CP}organizations", {"default": "ORG-1"})
    org = ET.SubElement(orgs, f"{_CP}organization", {"identifier": "ORG-1"})
    ET.SubElement(org, f"{_CP}title").text = design.get("title", "Course")
    resources = ET.SubElement(manifest, f"{_CP}resources")
    files: dict[str, str] = {}
    pages = [
        (m["id"], m["title"], f"module-{n}.html", m.get("body", ""))
        for n, m in enumerate(design.get("modules", []), start=1)
    ]
    pages.append(("QUIZ", "Knowledge check", "quiz.html", _quiz(design)))
    for page_id, title, href, body in pages:
        item = ET.SubElement(
            org, f"{_CP}item", {"identifier": f"ITEM-{page_id}", "identifierref": f"RES-{page_id}"}
        )
        ET.SubElement(item, f"{_CP}title").text = title
        resource = ET.SubElement(
            resources,
            f"{_CP}resource",
            {
                "identifier": f"RES-{page_id}",
                "type": "webcontent",
                f"{_ADL}scormtype": "sco",
                "href": href,
            },
        )
        ET.SubElement(resource, f"{_CP}file", {"href": href})
        files[href] = _page(title, body, language)
    xml = ET.tostring(manifest, encoding="utf-8", xml_declaration=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in [("imsmanifest.xml", xml), *((k, v.encode()) for k, v in files.items())]:
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buffer.getvalue()


def package_problems(data: bytes) -> list[str]:
    """What keeps `data` from being a well-formed SCORM 1.2 package (empty when it is one)."""
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
    resources = root.find(f"{_CP}resources")
    if orgs is None or resources is None:
        return [*problems, "organizations and resources are required"]
    default = orgs.get("default")
    org_ids = {o.get("identifier") for o in orgs.findall(f"{_CP}organization")}
    if default not in org_ids:
        problems.append(f"default organization {default!r} is not declared")
    ids = [e.get("identifier") for e in root.iter() if e.get("identifier")]
    duplicates = sorted({i for i in ids if ids.count(i) > 1 and i})
    if duplicates:
        problems.append(f"identifiers are not unique: {', '.join(duplicates)}")
    resource_ids = {r.get("identifier") for r in resources.findall(f"{_CP}resource")}
    for item in orgs.iter(f"{_CP}item"):
        if not item.findtext(f"{_CP}title"):
            problems.append(f"item {item.get('identifier')} has no title")
        if item.get("identifierref") not in resource_ids:
            problems.append(f"item {item.get('identifier')} refers to an unknown resource")
    for resource in resources.findall(f"{_CP}resource"):
        if resource.get(f"{_ADL}scormtype") not in ("sco", "asset"):
            problems.append(f"resource {resource.get('identifier')} has no adlcp:scormtype")
        hrefs = {resource.get("href")} | {f.get("href") for f in resource.findall(f"{_CP}file")}
        for href in sorted(h for h in hrefs if h):
            if href not in names:
                problems.append(f"href {href} is not in the package")
    return problems
