"""Text shown to visitors: absolute paths cut down to their last part, so no message tells where files live."""

from __future__ import annotations

import re

# An absolute POSIX or Windows path's directories ("/home/me/models/", "C:\\Users\\me\\"), not inside a URL or a
# relative path.
_DIRECTORIES = re.compile(r"(?<![\w/.\\:~-])(?:/|[A-Za-z]:\\)(?:[^\s'\"<>|*?,;()\[\]{}/\\]+[/\\])+")


def hide_paths(text: str | None) -> str | None:
    """``text`` with the directories of every absolute path removed: ``/srv/app/models/e5`` becomes ``e5``."""
    return None if text is None else _DIRECTORIES.sub("", text)
