"""A plugin whose import fails: it needs a package that is not installed."""

import wengert_no_such_dependency  # noqa: F401
