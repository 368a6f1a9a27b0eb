"""A plugin whose hook name has a typo: without a check it would load silently with no ops."""

from wengert import hookimpl


@hookimpl
def wengert_op():
    return []
