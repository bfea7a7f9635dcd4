"""config/README.md explains every setting: each property of config/schema/ is named in its section of the README."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "config" / "schema"
README = ROOT / "config" / "README.md"


def schema_properties(node, path=()):
    """Every property path of a JSON schema: nested objects, maps (``additionalProperties``), arrays, conditionals."""
    if not isinstance(node, dict):
        return
    for name, sub in (node.get("properties") or {}).items():
        yield (*path, name)
        yield from schema_properties(sub, (*path, name))
    for key in ("additionalProperties", "items", "then", "else"):
        if isinstance(node.get(key), dict):
            yield from schema_properties(node[key], path)
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(key) or []:
            yield from schema_properties(sub, path)


def readme_sections(text: str) -> dict[str, set[str]]:
    """Section (the first backticked word of its heading, else the heading) -> the names its backticks mention
    (``a.b`` mentions a and b)."""
    sections = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        m = re.search(r"`([^`]+)`", heading)
        key = m.group(1).split(".")[0] if m else heading.strip()
        sections[key] = {part for token in re.findall(r"`([^`]+)`", body) for part in token.split(".")}
    return sections


def undocumented(readme_text: str) -> list[str]:
    sections = readme_sections(readme_text)
    missing = []
    for schema in sorted(SCHEMA_DIR.glob("*.schema.yaml")):
        section_of_file = schema.name.removesuffix(".schema.yaml")
        for path in schema_properties(yaml.safe_load(schema.read_text())):
            if section_of_file == "config":
                section, name = ("Top level", path[0]) if len(path) == 1 else (path[0], path[-1])
            else:
                section, name = section_of_file, path[-1]
            if name in sections.get(section, ()):
                continue
            if section_of_file == "config" and len(path) == 1 and name in sections:
                continue  # a section of its own (llm, fid, ...)
            missing.append(f"{schema.name}: {'.'.join(path)} (README section {section!r})")
    return missing


def test_every_schema_property_is_explained_in_config_readme():
    missing = undocumented(README.read_text())
    assert not missing, "config/README.md does not explain: " + "; ".join(missing)


def test_an_undocumented_property_is_found():
    text = README.read_text()
    assert "`max_images`" in text
    assert any("data.max_images" in m for m in undocumented(text.replace("`max_images`", "max images")))
