"""What a node becomes under a source's rules: its applications, labels and kept facts. No
database here: the sync computes each node's wanted state with these, then compares."""

from dataclasses import dataclass

from orbiter.inventory.puppetdb import Node, Wanted, class_title

MISSING = object()
LABEL_MAX = 200  # Host.labels values, as host_validate allows them


@dataclass(frozen=True)
class Rules:
    """A source's rules, compiled once per sync."""

    by_class: dict  # lowercased PuppetDB class title -> application names
    by_fact: list  # (fact path, value, application name)
    facts: tuple  # fact paths to keep
    labels: dict  # label -> fact path

    @classmethod
    def of(cls, source) -> "Rules":
        by_class: dict[str, set[str]] = {}
        by_fact = []
        for rule in source.applications:
            if "class" in rule:
                by_class.setdefault(class_title(rule["class"]).lower(), set()).add(rule["application"])
            else:
                by_fact.append((rule["fact"], rule["value"], rule["application"]))
        return cls(by_class, by_fact, tuple(source.facts), dict(source.labels))

    @property
    def wanted(self) -> Wanted:
        """What to ask PuppetDB for: top-level fact names (a path os.family needs the fact os)
        and class titles."""
        paths = {*self.facts, *self.labels.values(), *(fact for fact, _, _ in self.by_fact)}
        return Wanted(facts=frozenset(path.split(".")[0] for path in paths),
                      classes=frozenset(class_title(name) for name in self.by_class))

    def applications(self, node: Node) -> set[str]:
        names = set()
        for title in node.classes:
            names |= self.by_class.get(title.lower(), set())
        for path, value, application in self.by_fact:
            if _same(fact(node.facts, path), value):
                names.add(application)
        return names

    def labels_of(self, node: Node, warnings: list[str]) -> dict:
        labels = {}
        for label, path in self.labels.items():
            value = fact(node.facts, path)
            if value is MISSING or value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            if isinstance(value, (int, float)):
                value = str(value)
            if not isinstance(value, str) or len(value) > LABEL_MAX:
                warnings.append(f"{node.certname}: label {label} left out: fact {path} is not a short string")
                continue
            labels[label] = value
        return labels

    def facts_of(self, node: Node) -> dict:
        kept = {}
        for path in self.facts:
            value = fact(node.facts, path)
            if value is not MISSING:
                kept[path] = value
        return kept


def fact(facts: dict, path: str):
    """A fact by name, or a structured fact's member by dotted path (os.family); MISSING when
    absent. A top-level name with a dot in it is found first."""
    if path in facts:
        return facts[path]
    value = facts
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _same(found, expected) -> bool:
    """A fact rule matches on the same value of the same JSON type (true is not 1, "1" is not 1)."""
    if found is MISSING or isinstance(found, bool) != isinstance(expected, bool):
        return False
    return type(found) is type(expected) and found == expected
