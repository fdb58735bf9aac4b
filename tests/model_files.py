"""Helpers for tests that take model files apart and put them back together (hostile, fuzzed, killed saves).

A model file is a zip of ``config.json``, ``model.safetensors``, ``optimizer.safetensors`` and
``manifest.json`` (the size and SHA-256 of each other entry). ``rebuild`` writes entries back with
valid CRCs and, unless told otherwise, a manifest that matches them: what a crafted file (or a tool
that edits files consistently) looks like, so that the checks behind the manifest are reached.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

MANIFEST = "manifest.json"


def entries(source):
    """``{name: bytes}`` of a model file (a path or its bytes), in archive order."""
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    with zipfile.ZipFile(handle) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def manifest_for(members):
    """The bytes of a manifest.json that matches ``members`` (every entry but the manifest itself)."""
    listing = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
               for name, data in members.items() if name != MANIFEST}
    return json.dumps({"format": "nerve-manifest", "entries": listing}, indent=1).encode()


def rebuild(members, refresh_manifest=True, compression=zipfile.ZIP_STORED, extra=()):
    """The bytes of a zip holding ``members`` (then ``extra`` pairs, duplicates allowed), CRCs valid.

    ``refresh_manifest``: recompute manifest.json when ``members`` has one, so that the file is consistent.
    """
    members = dict(members)
    if refresh_manifest and MANIFEST in members:
        members[MANIFEST] = manifest_for(members)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in list(members.items()) + list(extra):
            archive.writestr(name, data)
    return buffer.getvalue()


def with_config(members, change):
    """``members`` with ``change(config)`` applied to config.json (manifest refreshed by ``rebuild``)."""
    config = json.loads(members["config.json"])
    change(config)
    return {**members, "config.json": json.dumps(config).encode()}
