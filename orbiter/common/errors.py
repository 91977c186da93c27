"""The error types the rest of Orbiter raises and the API, CLI and UI render."""


class OrbiterError(Exception):
    """A refusal or failure a user should read: `message` says what, `extra` the details."""

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationError(OrbiterError):
    """Bad input: the message names the field and what is allowed."""


class NotFound(OrbiterError):
    pass


class PreflightRefused(OrbiterError):
    """A deployment request refused before anything moved. `code` is machine-readable."""

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message, **extra)
        self.code = code


class IllegalTransition(OrbiterError):
    pass


class Conflict(OrbiterError):
    """Someone else changed the object first (compare-and-set lost)."""


class DriverError(Exception):
    """Raised by every driver. `permanent` decides between retry and give up."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
