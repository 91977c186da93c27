"""Puppet's External Node Classifier: which class and version each application gets on a node.

Puppet (a server with `node_terminus = exec`, or masterless `puppet apply
--node_terminus=exec --external_nodes=SCRIPT`) asks for a certname and gets YAML:

    classes:
      shop_api:
        version: 1.1.0-1          # the host's pin: moved by Orbiter when its turn comes
        package: shop-api
    environment: production       # only when the Orbiter environment sets one
    parameters:
      orbiter_environment: production
      orbiter_pins:               # by package name, for `package { 'shop-api': ensure => ... }`
        shop-api: 1.1.0-1

Only pinned applications appear: a host whose turn has not come keeps the version it is
pinned to, whatever runs Puppet meanwhile.
"""

import re

import yaml

from orbiter.catalog.models import Application, Host, Pin
from orbiter.common.errors import NotFound, OrbiterError
from orbiter.common.validators import certname as valid_certname


class NotEnrolled(OrbiterError):
    pass


_PUPPET_CLASS = re.compile(r"^[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)*$")


def puppet_class(application: Application) -> str:
    return application.puppet_class or application.name.replace("-", "_")


def node_classification(certname: str) -> dict:
    valid_certname("certname", certname)
    host = Host.objects.select_related("environment").filter(certname=certname).first()
    if host is None:
        raise NotFound(f"no host {certname!r} is known to Orbiter")
    if not host.agent_public_key:
        raise NotEnrolled(f"host {certname!r} has no enrolled agent; enroll it first (orbiter agents token)")
    pins = list(Pin.objects.filter(host=host).select_related("application", "artifact").order_by("application__name"))
    node = {
        "classes": {
            puppet_class(pin.application): {"version": pin.artifact.label, "package": pin.application.package}
            for pin in pins
        },
        "parameters": {
            "orbiter_environment": host.environment.name,
            "orbiter_pins": {pin.application.package: pin.artifact.label for pin in pins},
        },
    }
    if host.environment.puppet_environment:
        node["environment"] = host.environment.puppet_environment
    return node


def render(node: dict) -> str:
    return yaml.safe_dump(node, default_flow_style=False, sort_keys=True)


def validate_puppet_class(value: str) -> str:
    from orbiter.common.errors import ValidationError

    if value and not _PUPPET_CLASS.match(value):
        raise ValidationError(
            f"puppet_class: {value!r} is not a Puppet class name; allowed: lowercase words of letters, "
            "digits and '_', separated by '::'",
            field="puppet_class",
        )
    return value
