"""`postroom worker` and `postroom run` as real process trees."""

import os
import re
import urllib.request

import pytest

from postroom.crm.models import Lead
from postroom.testing.dovecot import free_port
from postroom.testing.mail import make_email
from postroom.testing.processes import group_alive, start_postroom, stop, wait_for
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e]


@pytest.mark.django_db(transaction=True)
def test_the_running_worker_turns_new_mail_into_a_lead(
    dovecot, mail_user, dovecot_mailbox, live_env, tmp_path
):
    worker = start_postroom(["worker"], live_env, tmp_path / "worker.log")
    try:
        dovecot.deliver(make_email(sender="w@prospect.test", to=mail_user.address),
                        to=mail_user.address)  # fmt: skip
        wait_for(lambda: Lead.objects.filter(email="w@prospect.test").exists(), 60,
                 "the worker to create the lead")  # fmt: skip
    finally:
        stop(worker)
    assert not group_alive(worker.pid), "Ctrl-C left processes behind"


def test_postroom_run_serves_the_login_page_and_stops_on_ctrl_c(tmp_path, page):
    port = free_port()
    # A fresh installation: its own data directory, SQLite, no key given.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POSTROOM_SECRET_KEY")}
    env["POSTROOM_DATA_DIR"] = str(tmp_path / "data")
    env["POSTROOM_INGRESS_BIND"] = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "run.log"
    args = ["run", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"]
    run = start_postroom(args, env, log_path)
    try:
        url = f"http://127.0.0.1:{port}/login/"

        def serving() -> bool:
            assert run.poll() is None, log_path.read_text()
            try:
                return urllib.request.urlopen(url, timeout=2).status == 200  # noqa: S310
            except OSError:
                return False

        wait_for(serving, 90, "the web server")
        printed = log_path.read_text()
        login = re.search(r"login (\S+), password (\S+)", printed)
        assert login, printed
        log_in(page, url, login.group(1), login.group(2))
        assert page.locator("header.top .who").inner_text() == login.group(1)
    finally:
        stop(run)
    assert not group_alive(run.pid), "Ctrl-C left processes behind"
    assert (tmp_path / "data" / "secret_key").exists()
