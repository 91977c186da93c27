"""The exit codes of client mode (documented in docs/cli.md) and the error that carries one."""

OK = 0  # succeeded, or the action was done
FAILED = 1  # the deployment failed
USAGE = 2  # bad arguments or input the server rejected as invalid (400), unknown id or name (404)
REFUSED = 3  # refused by preflight or in the current state (409), or forbidden by role or token scope (403)
STOPPED = 4  # the deployment ended cancelled, rejected or rolled back
UNREACHABLE = 5  # cannot reach the server, no or bad credentials (401), the server failed (5xx)
TIMED_OUT = 6  # --timeout passed while waiting; the deployment carries on
INTERRUPTED = 130  # Ctrl-C while waiting; the deployment carries on


class ClientError(Exception):
    """What went wrong, for a person (`message`), and the exit code a script reads."""

    def __init__(self, message: str, exit_code: int, *, code: str | None = None, transient: bool = False,
                 problems: list | None = None):
        super().__init__(message)
        self.problems = problems or []  # every problem of a refused fleet file: {source, document, path, message}
        self.message = message
        self.exit_code = exit_code
        self.code = code  # the API's machine-readable error code, when it gave one
        # The server could not be reached or failed (refused, timed out, 5xx): asking again
        # later may work. Not a TLS or credentials failure.
        self.transient = transient
