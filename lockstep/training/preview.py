"""A course preview: the package unpacked beside an LMS page that runs `scorm-again`.

`lockstep show THREAD --artifact package --open` builds this folder so a reviewer at the final
gate can click through the course as a learner would, with a real SCORM 1.2 runtime recording
status, score and answers (`lms.html` shows them in its bar). The browser tests serve the same
page, the same way, to check what the runtime records.

scorm-again (MIT) comes from the npm registry: `scorm_again()` installs the pinned version
into `.lockstep/npm` with `npm` the first time, or uses `LOCKSTEP_SCORM_AGAIN` (a folder that
holds `scorm12.min.js`).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from importlib import resources
from pathlib import Path

from lockstep.errors import ConfigError

__all__ = ["SCORM_AGAIN", "build_preview", "scorm_again", "unpack"]

SCORM_AGAIN = "3.4.3"
"""The scorm-again version the preview and the tests run (npm)."""
NPM_PREFIX = Path(".lockstep/npm")


def scorm_again(prefix: Path = NPM_PREFIX) -> Path:
    """The folder holding scorm-again's `scorm12.min.js`, installing it with npm if needed."""
    if configured := os.environ.get("LOCKSTEP_SCORM_AGAIN"):
        folder = Path(configured)
    else:
        folder = prefix / "node_modules" / "scorm-again" / "dist"
    if (folder / "scorm12.min.js").is_file():
        return folder
    npm = shutil.which("npm")
    if configured or not npm:
        raise ConfigError(
            f"scorm-again is not in {folder}: run `npm install --prefix {prefix} "
            f"scorm-again@{SCORM_AGAIN}` (npm comes with Node.js)"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--silent",
         f"scorm-again@{SCORM_AGAIN}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or not (folder / "scorm12.min.js").is_file():
        raise ConfigError(f"npm could not install scorm-again: {proc.stderr.strip()[-500:]}")
    return folder


def unpack(content: bytes, folder: Path) -> list[str]:
    """Unpack a zip into `folder`, refusing entries that would land outside it; the names."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise ConfigError("this artifact is not a zip archive") from None
    root = folder.resolve()
    for name in archive.namelist():
        if not (root / name).resolve().is_relative_to(root):
            raise ConfigError(f"archive entry {name!r} would land outside {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    archive.extractall(folder)  # every entry was checked above
    return archive.namelist()


def build_preview(content: bytes, folder: Path, runtime: Path | None = None) -> Path:
    """An empty `folder` filled with `lms.html`, scorm-again and the package in `course/`;
    the page to open (serve the folder over HTTP: browsers keep file:// frames apart)."""
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"preview folder {folder} is not empty")
    names = unpack(content, folder / "course")
    if "index.html" not in names:
        raise ConfigError("this archive has no index.html: it is not a lockstep course")
    dist = runtime or scorm_again()
    (folder / "scorm-again").mkdir()
    shutil.copyfile(dist / "scorm12.min.js", folder / "scorm-again" / "scorm12.min.js")
    page = folder / "lms.html"
    page.write_bytes(resources.files("lockstep.training").joinpath("lms", "lms.html").read_bytes())
    return page
