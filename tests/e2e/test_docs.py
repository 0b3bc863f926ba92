"""The guide (mkdocs.yml, docs/): it builds with ``--strict`` and offline, its config reference lists every key of
the config's schema, and the getting-started page's commands run as the page shows them."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, user_env

DOCS = REPO / "docs"
# Names in the docs for keys inside lists and mappings of config sections (docs/hooks.py writes them so).
LIST_ITEM, MAPPING_KEY = "[]", ".<key>"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The guide as `mkdocs build --strict` writes it: a warning (a broken link, an undocumented config key, an
    object mkdocstrings cannot find) fails the build."""
    directory = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(directory)],
                           cwd=REPO, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    return directory


def test_the_guide_builds_strict_with_every_page(site):
    for page in ("index", "getting-started", "configs", "config-reference", "spaces-and-presets", "drivers",
                 "reviewing", "shipping", "cross-validation-and-ablation", "scale", "python-api"):
        assert (site / f"{page}.html").is_file(), page
    import kerashpo

    headings = [_text(heading).split() for heading in
                re.findall(r"<h3[^>]*>(.*?)</h3>", (site / "python-api.html").read_text(), re.S)]
    documented = {words[0] for words in headings if words}
    missing = [name for name in kerashpo.__all__ if f"kerashpo.{name}" not in documented]
    assert not missing, f"public names without their section in the Python API page: {missing}"


def config_keys() -> dict[str, dict]:
    """Every key a pipeline config takes, dotted, with its JSON schema: walked from the pydantic model's own
    serialization schema (what a config holds; ``exclude``d fields are not in it), not from docs/hooks.py."""
    from kerashpo.pipelines.config import PipelineConfig

    schema = PipelineConfig.model_json_schema(mode="serialization")
    definitions = schema.get("$defs", {})

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = {**definitions[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def section(node: dict) -> tuple[dict | None, str]:
        """The mapping of keys a property holds (directly, in a list or as a mapping's values), and its suffix."""
        node = resolve(node)
        if "properties" in node:
            return node, ""
        for option in node.get("anyOf", []):
            found, suffix = section(option)
            if found is not None:
                return found, suffix
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            found, suffix = section(node["items"])
            return (found, LIST_ITEM + suffix) if found is not None else (None, "")
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
            found, suffix = section(node["additionalProperties"])
            return (found, MAPPING_KEY + suffix) if found is not None else (None, "")
        return None, ""

    keys: dict[str, dict] = {}

    def walk(node: dict, prefix: str) -> None:
        for name, prop in node["properties"].items():
            keys[prefix + name] = resolve(prop)
            found, suffix = section(prop)
            if found is not None:
                walk(found, prefix + name + suffix + ".")

    walk(schema, "")
    return keys


def test_the_config_reference_lists_every_key_of_the_schema(site):
    keys = config_keys()
    assert {"name", "budget.timeout", "export.pick.rule", "objectives[].metric", "constraints.<key>.max"} <= set(keys)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", (site / "config-reference.html").read_text(), re.S):
        cells = [_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            rows[cells[0]] = " ".join(cells[1:])
    missing = sorted(set(keys) - set(rows))
    assert not missing, f"keys of the config schema missing from the reference: {missing}"
    for key, schema in keys.items():
        description = " ".join(schema.get("description", "").replace("`", "").split())
        assert description, f"{key} has no description: give it Field(description=...) in pipelines/config.py"
        assert description in rows[key].replace("`", ""), key
        for value in _allowed(schema):  # an enum's or Literal's choices, each named in the row
            assert re.search(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", rows[key]), (key, value)


def _allowed(schema: dict) -> list:
    return [value for node in (schema, *schema.get("anyOf", [])) for value in node.get("enum", [])]


def test_no_page_loads_anything_from_the_web(site):
    """Offline: no script, stylesheet, font, image or frame from another site (no CDN, no Google Fonts)."""
    remote = re.compile(r"^\s*(https?:)?//", re.I)
    loaded = re.compile(r"<(script|img|iframe|source)\b[^>]*\bsrc\s*=\s*[\"']([^\"']*)", re.I)
    linked = re.compile(r"<link\b([^>]*)>", re.I)
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 10
    found = []
    for page in pages:
        text = page.read_text(errors="replace")
        found += [(page.name, url) for _, url in loaded.findall(text) if remote.match(url)]
        for attributes in linked.findall(text):
            rel = re.search(r"\brel\s*=\s*[\"']([^\"']*)", attributes)
            href = re.search(r"\bhref\s*=\s*[\"']([^\"']*)", attributes)
            if href and remote.match(href.group(1)) and not (rel and rel.group(1) in ("canonical", "alternate")):
                found.append((page.name, href.group(1)))
        found += [(page.name, host) for host in ("fonts.googleapis.com", "fonts.gstatic.com") if host in text]
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(errors="replace")
        found += [(sheet.name, url) for url in re.findall(r"url\(\s*[\"']?([^\"')]*)", text) if remote.match(url)]
        found += [(sheet.name, url) for url in re.findall(r"@import\s+[\"']([^\"']*)", text) if remote.match(url)]
    assert not found, found


def _text(fragment: str) -> str:
    """An HTML fragment's text, on one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


# --- The getting-started page --------------------------------------------------------------------------------------

# A placeholder path in the page's shown output, for the folder the commands ran in.
SHOWN_FOLDER = "/home/you/first"


def fenced_blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, text)`` of each fenced block of a Markdown file, in order (also those indented in lists)."""
    pattern = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
    return [(language, text) for _, language, text in pattern.findall(path.read_text())]


def readme_install_step() -> str:
    """The install step of the README's first command (``pip install -e . && kerashpo run ...``)."""
    first = next(text for language, text in fenced_blocks(REPO / "README.md") if language == "bash")
    command = next(line for line in first.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return next(part.strip() for part in command.split("&&") if part.strip().startswith("pip install"))


def _shown(line: str) -> str:
    """A line of output as the page may show it: numbers vary from run to run, spacing does not matter."""
    return " ".join(re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", line).split())


@pytest.mark.slow
def test_getting_started_commands_run_as_shown(tmp_path):
    blocks = fenced_blocks(DOCS / "getting-started.md")
    commands = [index for index, (language, _) in enumerate(blocks) if language == "bash"]
    install = [line for line in blocks[commands[0]][1].splitlines() if line.strip() and not line.startswith("#")]
    assert install == [readme_install_step()], "the page's install block is the README's install step"
    assert len(commands) >= 4

    # A user's shell in an empty folder: no tracking URI, this interpreter's kerashpo and python3 first on PATH.
    env = user_env(NO_MKDOCS_2_WARNING="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    ran: list[str] = []
    for index in commands[1:]:
        script = blocks[index][1]
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{script}\nexited {done.returncode}:\n{output}"
        ran.append(script)
        after = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
        if after[0] == "text":  # the output the page shows: at least one of its lines, as printed
            printed = [_shown(line) for line in output.splitlines()]
            shown = [_shown(line.rstrip(". ").replace(SHOWN_FOLDER, str(tmp_path)))
                     for line in after[1].splitlines() if line.strip() not in ("", "...")]
            assert any(line and any(line in out for out in printed) for line in shown), (
                f"{script}\nshowed none of the page's lines {after[1]!r}; printed:\n{output}")

    # What the commands left in the folder: a shipped model, and every file an --out named.
    assert list(tmp_path.glob("mlruns/exports/*/model.keras")), sorted(p.name for p in tmp_path.rglob("*"))
    outs = [Path(out) for script in ran for out in re.findall(r"--out\s+(\S+)", script)]
    assert outs, "the page writes the report and the predictions to files"
    for out in outs:
        assert (tmp_path / out).is_file() and (tmp_path / out).stat().st_size > 0, out
    predictions = next((tmp_path / out for out in outs if out.suffix == ".csv"), None)
    assert predictions is not None and predictions.read_text().splitlines()[0].startswith("prediction,")
