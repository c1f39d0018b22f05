"""Sphinx configuration: ``hatch run docs:build`` builds the site, warnings are errors.

The hook reference comes from the docstrings in ``stratagem/hookspecs.py``, the CLI
reference from the click commands and the config reference from the session config
models, so none of them can drift from the code; nothing here ships in a wheel.
"""

from __future__ import annotations

from importlib.metadata import version as distribution_version
from typing import Any

project = "stratagem"
author = "stratagem developers"
copyright = "stratagem developers"
release = distribution_version("stratagem")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx_click",
    "sphinxcontrib.autodoc_pydantic",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# field descriptions are written for the JSON schema too, with Markdown-style `code`
default_role = "literal"
add_module_names = False
html_theme = "alabaster"

myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": True}
autodoc_typehints = "description"
autodoc_typehints_format = "short"

autodoc_pydantic_model_show_json = False
autodoc_pydantic_model_show_config_summary = False
autodoc_pydantic_model_show_validator_summary = False
autodoc_pydantic_model_show_validator_members = False
autodoc_pydantic_model_show_field_summary = False
autodoc_pydantic_model_member_order = "bysource"
autodoc_pydantic_field_list_validators = False
# a regex constraint is written out unescaped and breaks the reST around it
autodoc_pydantic_field_show_constraints = False


def _skip_hook_wiring(
    app: Any, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    # Strategy's stratagem_* methods only forward to on_*; the hooks page has them
    return True if what == "class" and name.startswith("stratagem_") else None


def setup(app: Any) -> None:
    app.connect("autodoc-skip-member", _skip_hook_wiring)
