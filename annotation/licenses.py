"""A project's data license: an SPDX id (checked against the SPDX list that `packaging`
ships), or `other` with a name, and how the Hugging Face Hub's dataset cards spell it."""

from __future__ import annotations

import re

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

OTHER = "other"
_SINGLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")

# The Hub's license identifiers that are SPDX licenses, lowercased
# (https://huggingface.co/docs/hub/repositories-licenses); a card names any other SPDX
# license as `other` with its id as `license_name`.
HUB_LICENSES = frozenset(
    [
        "apache-2.0",
        "mit",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "wtfpl",
        "ecl-2.0",
        "epl-1.0",
        "epl-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "eupl-1.2",
        "agpl-3.0",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "lppl-1.3c",
        "ms-pl",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "osl-3.0",
        "postgresql",
        "ofl-1.1",
        "ncsa",
        "unlicense",
        "zlib",
        "pddl",
    ]
)
# SPDX ids the Hub spells otherwise (its ids predate SPDX's -only / -or-later forms).
_HUB_SPELLING = {
    "odc-by-1.0": "odc-by",
    "odbl-1.0": "odbl",
    "pddl-1.0": "pddl",
    **{
        f"{name}-{version}-{suffix}": f"{name}-{version}"
        for name, version in (("gpl", "2.0"), ("gpl", "3.0"), ("agpl", "3.0"), ("lgpl", "2.1"))
        for suffix in ("only", "or-later")
    },
    "lgpl-3.0-only": "lgpl-3.0",
    "lgpl-3.0-or-later": "lgpl-3.0",
}


def spdx_license_id(value: str) -> str | None:
    """The SPDX id `value` names, in SPDX's own spelling ("cc-by-4.0" -> "CC-BY-4.0"), or
    None when it is not a single SPDX license (an expression, a LicenseRef, unknown)."""
    try:
        canonical = canonicalize_license_expression(value.strip())
    except InvalidLicenseExpression:
        return None
    if not _SINGLE_ID.fullmatch(canonical) or canonical.lower().startswith("licenseref"):
        return None
    return canonical


def hub_license(license_id: str, license_name: str) -> dict[str, str]:
    """The card's license fields for a project's setting: a Hub identifier, or `other`
    with a `license_name` (and, for an SPDX license the Hub does not list, its SPDX page);
    `unknown` when the project has none set."""
    if not license_id:
        return {"license": "unknown"}
    if license_id == OTHER:
        return {"license": OTHER, "license_name": license_name}
    lowered = license_id.lower()
    hub = _HUB_SPELLING.get(lowered, lowered)
    if hub in HUB_LICENSES:
        return {"license": hub}
    return {
        "license": OTHER,
        "license_name": lowered,
        "license_link": f"https://spdx.org/licenses/{license_id}.html",
    }
