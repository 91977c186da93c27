"""What Orbiter's admin pages share.

Django's admin writes straight to the tables unless told otherwise. Here every page is one
of two kinds:

- `ServiceAdmin`: adding, changing and deleting (one object or "delete selected") go
  through the entity's services, which validate and record the audit Event with the
  admin's username. The form's `clean()` runs the same validation first, so a refusal is
  shown on the field it names and nothing is written.
- `ReadOnlyAdmin` (and `ReadOnlyInline`): records Orbiter keeps itself, or objects whose
  only right write path is elsewhere (the page's description says where).
"""

from django.contrib import admin
from django.db import transaction

from orbiter.common.errors import OrbiterError


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CheckedForm:
    """Mixed into the admin's ModelForm: `clean()` asks the admin to validate the way the
    service will, and shows a refusal on the field it names (or above the form)."""

    admin_page = None  # the ServiceAdmin, set by ServiceAdmin.get_form
    original = None  # the object as stored, None when adding

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                self.admin_page.validate(cleaned, self.original)
            except OrbiterError as error:
                self.add_error(self.admin_page.form_field(error, self), error.message)
        return cleaned


class ServiceAdmin(admin.ModelAdmin):
    """A page whose writes are the services'. A subclass fills in:

    - `validate(data, original)`: raise the service's ValidationError for the form's data;
    - `create(actor, data)` and `update(actor, original, changes)`: call the services and
      return the stored object (`changes` holds only the fields the form changed);
    - `remove(actor, obj)`: the delete service;
    - `error_fields`: where an error about part of a field is shown (a rollout setting on
      `rollout_defaults`).
    """

    error_fields: dict[str, str] = {}

    def validate(self, data: dict, original) -> None:
        pass

    def create(self, actor: str, data: dict):  # pragma: no cover - every subclass that may add defines it
        raise NotImplementedError

    def update(self, actor: str, original, changes: dict):  # pragma: no cover
        raise NotImplementedError

    def remove(self, actor: str, obj) -> None:  # pragma: no cover
        raise NotImplementedError

    # --- the admin's hooks ---

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (CheckedForm, form), {"admin_page": self, "original": obj})

    def form_field(self, error: OrbiterError, form) -> str | None:
        """The form field a refusal is shown on: the one it names, the field holding the
        part it names ("options.url" on options), or None (above the form)."""
        name = error.extra.get("field") or ""
        name = self.error_fields.get(name, name).split(".")[0]
        return name if name in form.fields else None

    def save_model(self, request, obj, form, change):
        actor = request.user.get_username()
        if change:
            stored = self.update(actor, self.model.objects.get(pk=obj.pk), _changes(form))
        else:
            stored = self.create(actor, dict(form.cleaned_data))
        obj.pk = stored.pk  # the admin's message and redirect name the stored object
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """The services set many-to-many fields themselves. Inlines here are read-only lists
        (ReadOnlyInline): saving them writes nothing, and lets the admin describe the change."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        self.remove(request.user.get_username(), obj)

    def delete_queryset(self, request, queryset):
        actor = request.user.get_username()
        with transaction.atomic():  # "delete selected": all of them, each audited, or none
            for obj in queryset:
                self.remove(actor, obj)


def _changes(form) -> dict:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
