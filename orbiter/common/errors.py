"""The error types the rest of Orbiter raises and the API, CLI and UI render."""


class OrbiterError(Exception):
    """A refusal or failure a user should read: `message` says what, `extra` the details.

    `code` (machine-readable) and `http_status` are data on each class, so the API, the
    UI and the CLI render every error the same way without isinstance chains.
    """

    code = "refused"
    http_status = 409

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationError(OrbiterError):
    """Bad input: the message names the field and what is allowed."""

    code = "invalid"
    http_status = 400


class NotFound(OrbiterError):
    code = "not_found"
    http_status = 404


class Forbidden(OrbiterError):
    """The user's role in that environment (or the API token's scope) does not allow the action."""

    code = "forbidden"
    http_status = 403


class PreflightRefused(OrbiterError):
    """A deployment request refused before anything moved. `code` is machine-readable."""

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message, **extra)
        self.code = code


class IllegalTransition(OrbiterError):
    code = "illegal_transition"
    http_status = 409


class Conflict(OrbiterError):
    """Someone else changed the object first (compare-and-set lost)."""

    code = "conflict"
    http_status = 409


class DriverError(Exception):
    """Raised by every driver. `permanent` decides between retry and give up."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
