"""Passwords: at least 10 characters, not only digits, not one of the 10,000 most common; CLI to set one."""

from __future__ import annotations

from pathlib import Path

import pytest

from locator.accounts import COMMON_PASSWORDS_FILE, AccountError, check_password_policy, common_passwords


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("12345678", "at least 10 characters"),
        ("short", "at least 10 characters"),
        ("123456789012", "only digits"),
        ("１２３４５６７８９０１２", "only digits"),  # full-width digits are digits too
        ("qwertyuiop", "most common"),
        ("QwertyUIOP", "most common"),
        ("1q2w3e4r5t", "most common"),
        ("ouhai-admin", "user name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, message):
    with pytest.raises(AccountError, match=message) as info:
        check_password_policy(password, "ouhai-admin")
    assert info.value.detail_zh  # the Chinese reason for the organizers' pages


@pytest.mark.parametrize("password", ["Lucheng-river-2027", "瓯海区红骑驿站的登录密码", "correct horse battery"])
def test_reasonable_passwords_pass(password):
    check_password_policy(password, "ouhai-admin")


def test_the_common_password_list_ships_with_its_source():
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10_000 and lines[:3] == ["password", "123456", "12345678"]
    assert len(common_passwords()) >= 9_900  # a few entries differ only in case
    readme = (COMMON_PASSWORDS_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert "SecLists" in readme and "MIT" in readme and "ISC" in readme


@pytest.mark.parametrize("password", ["12345678", "1234567890", "qwertyuiop"])
def test_create_user_refuses_weak_passwords(runner, app, password):
    result = runner.invoke(args=["create-user", "boss", "--role", "city_admin", "--password-stdin"], input=password)
    assert result.exit_code == 1
    assert app.extensions["accounts"].find_user("boss") is None


def test_set_password_refuses_weak_ones_and_keeps_the_old(runner, app, make_user, login):
    make_user("boss", "city_admin")
    result = runner.invoke(args=["set-password", "boss", "--password-stdin"], input="1234567890\n")
    assert result.exit_code == 1 and "only digits" in result.output
    assert login("boss").get("/admin/").status_code == 200  # the old password still works


def test_set_password_prompts_twice_without_stdin(runner, app, make_user, login):
    make_user("boss", "city_admin")
    result = runner.invoke(args=["set-password", "boss"], input="Lucheng-river-2027\nLucheng-river-2027\n")
    assert result.exit_code == 0, result.output
    assert login("boss", "Lucheng-river-2027").get("/admin/").status_code == 200


def test_readme_documents_the_account_commands():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for command in ("set-password", "disable-user", "enable-user"):
        assert f"`{command}" in readme
