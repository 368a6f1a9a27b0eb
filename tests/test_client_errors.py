"""The one table from gRPC status to error class, read in both directions."""

from __future__ import annotations

import pytest

import wengert as wg
from wengert.errors import BY_STATUS, ERROR_CLASS_KEY, error_from_status, error_metadata


def all_error_classes():
    todo, found = [wg.WengertError], []
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_round_trips_through_its_status(cls):
    assert cls in BY_STATUS[cls.code], f"{cls.__name__} is missing from BY_STATUS[{cls.code!r}]"
    ((key, name),) = error_metadata(cls("node 'v3' (sin): boom"))
    error = error_from_status(cls.code, "node 'v3' (sin): boom", name)
    assert key == ERROR_CLASS_KEY
    assert type(error) is cls and str(error) == "node 'v3' (sin): boom"


def test_a_status_without_a_class_name_gets_the_first_class_of_its_code():
    assert type(error_from_status("UNIMPLEMENTED", "no")) is wg.UnknownOp
    assert type(error_from_status("DEADLINE_EXCEEDED", "late")) is wg.DeadlineExceeded
    assert type(error_from_status("INVALID_ARGUMENT", "bad", "NotAWengertClass")) is wg.InvalidRequest


def test_a_class_name_cannot_move_an_error_to_another_status():
    assert type(error_from_status("NOT_FOUND", "gone", "InvalidGraph")) is wg.GraphNotFound


def test_a_status_outside_the_table_keeps_its_code():
    error = error_from_status("PERMISSION_DENIED", "no entry")
    assert type(error) is wg.WengertError and error.code == "PERMISSION_DENIED"


def test_a_server_side_subclass_travels_as_its_tabled_ancestor():
    class TooManyNodes(wg.LimitExceeded):
        pass

    assert error_metadata(TooManyNodes("max-nodes")) == ((ERROR_CLASS_KEY, "LimitExceeded"),)
