import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_it_creates_an_admin_with_a_password_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("NEW_PASSWORD", "s3cret-enough-Pass")
    call_command(
        "user",
        "add",
        "alice",
        "--email",
        "alice@acme.test",
        "--admin",
        "--password-env",
        "NEW_PASSWORD",
    )
    user = get_user_model().objects.get(username="alice")
    assert user.is_superuser and user.check_password("s3cret-enough-Pass")
    assert "s3cret" not in capsys.readouterr().out


def test_it_generates_and_shows_a_password_once(capsys):
    call_command("user", "add", "bob", "--email", "bob@acme.test")
    out = capsys.readouterr().out
    password = out.split("password (shown once): ")[1].strip()
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password(password)
    assert out.count(password) == 1  # once in this output...
    assert password not in bob.password  # ...kept only as a hash, so never shown again
    call_command("user", "add", "carol", "--email", "carol@acme.test")
    assert password not in capsys.readouterr().out


def test_it_refuses_a_taken_username():
    call_command("user", "add", "bob", "--email", "bob@acme.test")
    with pytest.raises(CommandError, match="already exists"):
        call_command("user", "add", "bob", "--email", "other@acme.test")
