"""Errors meant for users: the CLI prints their message as one line and exits non-zero."""


class UserError(Exception):
    """A problem the user can fix (bad flag, corrupt file, port in use); no traceback shown."""

    exit_code = 2
