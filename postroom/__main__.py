"""The `postroom` command: Django's manage.py plus Postroom's own commands."""

import os
import sys

from postroom.lib.datadir import restrict_umask


def main() -> None:
    # Before anything creates a file (settings set it too, for the other entry points).
    restrict_umask()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
