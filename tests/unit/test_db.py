"""The ORM pool's upkeep: stale connections are replaced, busy ones are not health-checked per call."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, connections

from chat import db, selectors

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def health_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The health checks Django makes (is_usable), while connections are kept between calls."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    made: list[str] = []
    wrapper = type(connections["default"])
    original = wrapper.is_usable

    def is_usable(self: object) -> bool:
        made.append("check")
        return original(self)  # type: ignore[arg-type]

    monkeypatch.setattr(wrapper, "is_usable", is_usable)
    return made


def read() -> int:
    return db._with_upkeep(lambda: selectors.room_list().count())


def test_a_connection_busy_within_the_last_second_is_not_checked_before_each_call(
    health_checks: list[str],
) -> None:
    read()  # (re)connects with the kept-connection settings (and may check the test's connection)
    health_checks.clear()
    for _ in range(3):
        read()
    assert health_checks == []


def test_a_connection_idle_for_longer_is_checked_as_django_would(
    health_checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    read()
    health_checks.clear()
    monkeypatch.setattr(db, "HEALTH_CHECK_IDLE_SECONDS", 0.0)
    read()
    assert health_checks == ["check"]


def test_a_connection_that_died_while_idle_is_replaced_before_the_call(
    health_checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server whose session can be ended from outside")
    read()
    health_checks.clear()
    pid = _end_session_from_outside()
    monkeypatch.setattr(db, "HEALTH_CHECK_IDLE_SECONDS", 0.0)
    assert read() >= 0  # no OperationalError: the check found it dead and reconnected
    assert health_checks == ["check"]
    assert connection.connection.info.backend_pid != pid


def _end_session_from_outside() -> int:
    """End this connection's session from another, as a database restart or a proxy timeout would."""
    pid: int = connection.connection.info.backend_pid
    other = type(connections["default"])(connection.settings_dict, alias="killer")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    return pid


def test_a_connection_killed_while_trusted_fails_one_call_and_is_replaced(health_checks: list[str]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server whose session can be ended from outside")
    read()
    pid = _end_session_from_outside()  # within the second in which the pool skips the health check
    with pytest.raises(OperationalError):
        read()
    assert read() >= 0  # the dead connection was dropped: the next call has a new one
    assert connection.connection.info.backend_pid != pid


def test_an_idempotent_call_on_a_killed_connection_is_retried_once_and_succeeds(health_checks: list[str]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server whose session can be ended from outside")
    read()
    pid = _end_session_from_outside()
    calls = []

    def count() -> int:
        calls.append(1)
        return selectors.room_list().count()

    assert db._with_retry(count) >= 0
    assert len(calls) == 2 and connection.connection.info.backend_pid != pid
