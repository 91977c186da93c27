"""Refuses a NUL character anywhere a client can put one — the path, a query-string or form
parameter (its name or its value), a header — with a 400 naming where it was. PostgreSQL
cannot store NUL in text, so one reaching a query or a write would be a 500; refusing it
here, before sessions, sign-in and every view, covers each form and filter at once (JSON
bodies are checked by the API's parser, orbiter/api/parsers.py)."""

from django.http import HttpResponse, JsonResponse

NUL = "\x00"


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = nul_in(request)
        if where is not None:
            return refusal(request, where)
        return self.get_response(request)


def nul_in(request) -> str | None:
    """The name of the first place holding a NUL (`path`, a parameter, `header X`), else None."""
    if NUL in request.path:
        return "path"
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str) and NUL in value:
            return "header " + name[5:].replace("_", "-").title()
    sources = [request.GET]
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded",
                                                             "multipart/form-data"):
        sources.append(request.POST)
    for params in sources:
        for name, values in params.lists():
            if NUL in name:
                return _printable(name)
            if any(NUL in value for value in values if isinstance(value, str)):
                return name
    return None


def refusal(request, where: str) -> HttpResponse:
    message = f"{where}: NUL characters are not allowed"
    if request.path.startswith("/api/"):
        from orbiter.api.errors import body

        return JsonResponse(body("invalid", message, where), status=400)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def _printable(name: str) -> str:
    return name.replace(NUL, "\\x00")
