"""Connect many mailboxes at once through the ORM: `python -m bench.add_mailboxes SPEC.json`.

Run by the harness with the benchmark's environment. The spec holds the IMAP host and
port, the CRM rule and a list of {address, username, password}; no login is tested
(the bench made the Dovecot users itself), so 500 mailboxes take a second, not minutes.
"""

import json
import os
import sys
from pathlib import Path


def main(spec_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    from django.db import transaction

    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox

    spec = json.loads(Path(spec_path).read_text())
    with transaction.atomic():
        for box in spec["mailboxes"]:
            conn = ConnectionSettings(
                address=box["address"],
                name=box["username"],
                imap_host=spec["host"],
                imap_port=spec["port"],
                imap_security="none",
                username=box["username"],
                password=box["password"],
            )
            do_add_mailbox(conn, crm_rule=spec["crm_rule"])


if __name__ == "__main__":
    main(sys.argv[1])
