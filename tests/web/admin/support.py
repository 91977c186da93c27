"""Driving Django's admin as a browser does: a signed-in superuser posting its real forms."""

import json

from django.db import models
from django.forms.models import model_to_dict

from orbiter.audit.models import Event

ADMIN = "root"


def change_url(obj) -> str:
    return f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"


def add_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/add/"


def delete_url(obj) -> str:
    return f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/delete/"


def list_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def form_data(obj, fields, **overrides) -> dict:
    """The change form as the admin fills it in for `obj`, with some fields changed."""
    values = {**model_to_dict(obj, fields=fields), **overrides}
    data = {}
    for name, value in values.items():
        field = obj._meta.get_field(name)
        if field.many_to_many:
            data[name] = [item.pk for item in value]
        elif isinstance(field, models.JSONField):
            data[name] = json.dumps(value)
        elif value is None:
            data[name] = ""
        else:
            data[name] = value.pk if hasattr(value, "pk") else value
    return data


def field_errors(response) -> dict:
    """{field: [messages]} of the admin form the page shows again (non-field errors under None)."""
    form = response.context["adminform"].form
    return {name or None: list(messages) for name, messages in form.errors.items()}


def events(verb: str | None = None):
    found = Event.objects.all()
    return list(found.filter(verb=verb) if verb else found)
