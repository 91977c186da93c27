"""Every refusal names the document, the path inside it and what is allowed; nothing is
written, not even an Event, whatever the kind and wherever the mistake."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from orbiter.fleet.errors import FleetError
from tests.fleet.support import apply

pytestmark = pytest.mark.django_db

VALID = """
environments:
  - {name: staging, order: 1}
applications:
  - {name: shop-api, package: shop-api}
"""


def refusal(text: str, **options) -> list[str]:
    with pytest.raises(FleetError) as refused:
        apply(text, **options)
    return [f"{p['source']}#{p['document']}: {p['path']}: {p['message']}" for p in refused.value.extra["problems"]]


@pytest.mark.parametrize("body, expected", [
    # the schema's checks
    ("applications: [{name: shop-api, package: shop-api, rollout: {batch: 3}}]",
     "fleet.yaml#2: applications[shop-api].rollout: unknown key(s) 'batch' (did you mean 'batch_size'?); allowed: "),
    ("environments: [{name: prod, order: -1}]", "fleet.yaml#2: environments[prod].order: -1 is not allowed; give "
                                                "a number from 0 to 10000"),
    ("environments: [{name: prod, freezes: [{days: [fry], start: '18:00', end: '06:00', reason: x}]}]",
     "fleet.yaml#2: environments[prod].freezes[0].days[0]: 'fry' is not allowed; allowed: mon, tue, wed"),
    ("hosts: [{name: web-01.example.com}]", "fleet.yaml#2: hosts[web-01.example.com]: missing 'environment'"),
    ("pools: [{name: shop, application: shop-api, environment: staging, member_template: '{fqdn}'}]",
     "fleet.yaml#2: pools[shop].member_template: '{fqdn}' is not allowed; allowed: {certname}, {hostname}"),
    ("pipelines: [{application: shop-api, stages: [{environment: staging, promotion: manual}]}]",
     "fleet.yaml#2: pipelines[shop-api].stages[0].promotion: 'manual' is not allowed; allowed: automatic"),
    ("role_bindings: [{user: ada, group: ops, role: admin}]",
     "fleet.yaml#2: role_bindings[user:ada/admin/*]: give exactly one of user or group"),
    ("host_sources: [{name: pdb, environment: staging, url: 'https://pdb:8081', query: 'nodes[certname] {}', "
     "interval_s: 5}]", "fleet.yaml#2: host_sources[pdb].interval_s: 5 is not allowed; give a number from 30 to"),
    ("flavours: []", "fleet.yaml#2: : unknown key(s) 'flavours'"),
    # the services' checks, re-anchored under the object's path
    ("applications: [{name: cart, package: cart, rollout: {batch_size: 0}}]",
     "fleet.yaml#2: applications[cart].rollout.batch_size: must be at least 1 host or 1%"),
    ("applications: [{name: cart, package: cart, converge: {driver: ansible}}]",
     "fleet.yaml#2: applications[cart].converge.driver: converge driver 'ansible' is unknown; available: "),
    ("environments: [{name: prod, freezes: [{days: [fri], start: '18:00', end: '06:00', reason: x, "
     "timezone: Mars/Olympus}]}]", "fleet.yaml#2: environments[prod].freezes[0].timezone: 'Mars/Olympus' is not"),
    ("hosts: [{name: web-01.example.com, environment: prod}]",
     "fleet.yaml#2: hosts[web-01.example.com].environment: unknown environment 'prod'; known: staging"),
    ("pools: [{name: shop, application: shop-api, environment: staging, driver: haproxy, options: {backend: b}}]",
     "fleet.yaml#2: pools[shop].options.socket: haproxy pool 'shop': give exactly one of option `socket`"),
    ("pools: [{name: shop, application: shop-api, environment: staging, members: {web-09.example.com: w9}}]",
     "fleet.yaml#2: pools[shop].members[web-09.example.com]: unknown host 'web-09.example.com'"),
    ("pipelines: [{application: shop-api, stages: [{environment: staging, gates: [{name: t, kind: http, "
     "url: 'ftp://x'}]}]}]", "fleet.yaml#2: pipelines[shop-api].stages[0].gates[0].url: give an http:// or"),
    ("pipelines: [{application: cart, stages: [{environment: staging}]}]",
     "fleet.yaml#2: pipelines[cart].application: unknown application 'cart'; known: shop-api"),
    ("role_bindings: [{user: nobody, role: admin}]",
     "fleet.yaml#2: role_bindings[user:nobody/admin/*].user: user 'nobody' does not exist"),
    ("host_sources: [{name: pdb, environment: staging, url: 'https://pdb:8081', query: 'nodes[certname] {}', "
     "ca_file: relative.pem}]", "fleet.yaml#2: host_sources[pdb].ca_file: 'relative.pem' is not allowed"),
])
def test_a_mistake_is_refused_naming_the_document_the_path_and_what_is_allowed(body, expected):
    problems = refusal(VALID + "---\n" + body)

    assert problems[0].startswith(expected), problems
    assert not Environment.objects.exists() and not Event.objects.exists()


def test_an_error_in_the_last_object_leaves_nothing_written():
    many = "\n".join(f"  - {{name: app-{i:02d}, package: app-{i:02d}}}" for i in range(40))
    text = f"applications:\n{many}\n  - {{name: broken, package: broken, health: {{driver: sonar}}}}\n"

    problems = refusal(text)

    assert problems[0].startswith("fleet.yaml#1: applications[broken].health.driver: health driver 'sonar'")
    assert not Application.objects.exists() and not Event.objects.exists()


def test_the_same_object_in_two_documents_is_refused_naming_both_places():
    problems = refusal(VALID + "---\n" + "environments: [{name: staging, order: 2}]")

    assert problems == ["fleet.yaml#2: environments[staging]: defined twice: also in fleet.yaml (document 1); "
                        "define it once"]


def test_a_duplicate_key_is_refused_with_its_line():
    problems = refusal("applications:\n  - name: shop-api\n    package: a\n    package: b\n")

    assert problems == ["fleet.yaml#1: : line 4: duplicate key 'package' (first on line 3)"]


def test_a_billion_laughs_document_is_refused_before_it_expands():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]

    problems = refusal("\n".join(lines))

    assert problems == ["fleet.yaml#1: : more than 500000 values (aliases counted as expanded)"]


def test_deep_nesting_is_refused():
    problems = refusal("applications: " + "[" * 200 + "]" * 200)

    assert "nested deeper than 20 levels" in problems[0]


def test_every_problem_of_the_schema_is_listed_not_just_the_first():
    problems = refusal("environments: [{name: Staging, order: x, colour: red}]")

    assert len(problems) == 3
    assert any("environments[Staging].order: 'x' is not allowed; give a whole number" in p for p in problems)


def test_a_wall_clock_time_stays_text_as_written():
    apply("environments: [{name: prod, freezes: [{days: [fri], start: 18:00, end: 06:00, reason: weekend}]}]")

    window = Environment.objects.get().freezes.get()
    assert (f"{window.start_time:%H:%M}", f"{window.end_time:%H:%M}") == ("18:00", "06:00")


def test_problems_come_in_the_order_of_the_file():
    items = "\n".join(f"  - {{name: app-{i:02d}, package: p{i}{', rollout: {canary: 2}' if i in (2, 10) else ''}}}"
                      for i in range(12))

    problems = refusal(f"applications:\n{items}\n")

    assert [p.split(": ")[1] for p in problems] == ["applications[app-02].rollout.canary",
                                                    "applications[app-10].rollout.canary"]
