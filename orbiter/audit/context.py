"""Who is acting, as far as the audit trail needs to know beyond `actor`: the source IP.

A context variable, set by the middleware for the duration of a request, read by the
default of `Event.source_ip`. So every Event created while serving a request — by a
service, by `bulk_create` in the engine, anywhere — carries the client's address without
any code passing it along. Outside a request (workers, the sweeper, commands) it is None.
"""

import contextvars
from contextlib import contextmanager

_source_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("orbiter_source_ip", default=None)


def current_source_ip() -> str | None:
    return _source_ip.get()


@contextmanager
def source_ip(address: str | None):
    token = _source_ip.set(address)
    try:
        yield
    finally:
        _source_ip.reset(token)
