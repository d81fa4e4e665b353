"""The one exception type users see.

Everything a user can get wrong (unknown model, bad shape, missing file, corrupt checkpoint) is raised as
`GenzooError` with a single plain sentence; the CLI prints it on one line and exits with code 2. Bugs stay
ordinary exceptions so they keep their tracebacks.
"""


class GenzooError(Exception):
    """A user-facing error: one line that names what is wrong and, where possible, how to fix it."""
