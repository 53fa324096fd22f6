"""System checks of the installation (`postroom check`, and before every command)."""

import logging

from django.conf import settings
from django.core.checks import Warning, register

from postroom.lib import datadir

logger = logging.getLogger("postroom.datadir")


@register()
def data_directory_is_private(app_configs, **kwargs):
    """The data directory holds the SQLite database (sessions, mail), raw mail, blobs and
    the secret key: nobody but Postroom's user may read any of it."""
    root = settings.DATA_DIR
    found = datadir.loosened(root)
    if not found:
        return []
    return [
        Warning(
            f"{len(found)} path(s) in the data directory {root} are open to other users of "
            f"this machine: {datadir.describe(found, root)}",
            hint=f"`postroom run` and `postroom worker` make them private when they start; or "
            f"run: chmod -R go-rwx {root}",
            id="postroom.W001",
        )
    ]


def make_data_directory_private() -> None:
    """At the start of a long-running command: chmod what others may read in the data
    directory (0700 directories, 0600 files) and say so in the log."""
    root = settings.DATA_DIR
    if found := datadir.loosened(root):
        was = datadir.describe(found, root)  # the modes found, before the chmod
        datadir.tighten(root)
        logger.warning(
            "the data directory %s was open to other users of this machine; made private "
            "(0700 directories, 0600 files): %s",
            root,
            was,
        )
