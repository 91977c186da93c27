"""Writing one change through the catalog's services (they validate and record the Event:
one rule in one place). A refusal a service raises is re-anchored under the object's path
in the files: `environment` of a pool becomes `pools[shop-api-prod].environment`."""

from datetime import time

from orbiter.common.errors import OrbiterError
from orbiter.fleet.diff import CREATE, DELETE, Change
from orbiter.fleet.errors import FleetError, anchored

APPLICATION_FIELDS = {"package": ("package",), "puppet_class": ("puppet_class",), "description": ("description",),
                      "rollout_defaults": ("rollout",), "converge_driver": ("converge", "driver"),
                      "converge_options": ("converge", "options"), "health_driver": ("health", "driver"),
                      "health_options": ("health", "options")}
ENVIRONMENT_FIELDS = ("order", "requires_approval", "min_approvals", "puppet_environment")
POOL_FIELDS = ("driver", "options", "max_unavailable", "member_template")
HOST_SOURCE_FIELDS = ("url", "ca_file", "cert_file", "key_file", "query", "facts", "labels", "applications",
                      "interval_s", "enabled")
class Writer:
    def __init__(self, actor: str):
        from orbiter.catalog.models import Application, Environment

        self.actor = actor
        self.environments = {env.name: env for env in Environment.objects.all()}
        self.applications = {app.name: app for app in Application.objects.all()}
        self._host_map = None

    def write(self, change: Change) -> None:
        try:
            getattr(self, f"_{change.kind}")(change)
        except FleetError:
            raise
        except OrbiterError as error:
            raise anchored(change.kind, change.path, change.place, error) from None

    # --- environments ---

    def _environments(self, change: Change) -> None:
        from orbiter.catalog import services

        spec = change.after
        if change.action == DELETE:
            services.environment_delete(environment=self.environments[change.key], actor=self.actor)
            return
        fields = {name: spec[name] for name in ENVIRONMENT_FIELDS}
        if change.action == CREATE:
            env = services.environment_create(name=spec["name"], actor=self.actor, **fields)
            self.environments[env.name] = env
        else:
            env = self.environments[change.key]
            changed = {k: v for k, v in fields.items() if change.before[k] != v}
            if changed:
                env = services.environment_update(environment=env, actor=self.actor, **changed)
                self.environments[env.name] = env
        self._freezes(change, env)

    def _freezes(self, change: Change, env) -> None:
        """Weekly windows: those no longer listed are deleted, new ones created (a window has no
        name; changing one is deleting it and creating its replacement)."""
        from orbiter.catalog import services
        from orbiter.catalog.models import FreezeWindow
        from orbiter.fleet.specs import sorted_freezes

        wanted = change.after["freezes"]
        if change.before is not None and change.before["freezes"] == wanted:
            return
        for window in FreezeWindow.objects.filter(environment=env, kind=FreezeWindow.WEEKLY).order_by("id"):
            [as_spec] = sorted_freezes([{"days": list(window.weekdays), "start": f"{window.start_time:%H:%M}",
                                         "end": f"{window.end_time:%H:%M}", "timezone": window.timezone,
                                         "reason": window.reason}])
            if as_spec in wanted:
                wanted = [w for w in wanted if w != as_spec]
            else:
                services.freeze_delete(freeze_id=window.pk, actor=self.actor)
        for freeze in wanted:
            index = change.after["freezes"].index(freeze)
            try:
                services.freeze_create(environment=env, actor=self.actor, kind=FreezeWindow.WEEKLY,
                                       weekdays=freeze["days"], start_time=time.fromisoformat(freeze["start"]),
                                       end_time=time.fromisoformat(freeze["end"]), timezone=freeze["timezone"],
                                       reason=freeze["reason"])
            except OrbiterError as error:
                field = {"weekdays": "days", "start_time": "start", "end_time": "end"}.get(
                    error.extra.get("field"), error.extra.get("field"))
                raise anchored("environments", f"{change.path}.freezes[{index}]", change.place, error,
                               field=field) from None

    # --- applications ---

    def _applications(self, change: Change) -> None:
        from orbiter.catalog import services

        if change.action == DELETE:
            services.application_delete(application=self.applications[change.key], actor=self.actor)
            return
        fields = _application_fields(change.after)
        if change.action == CREATE:
            app = services.application_create(name=change.key, actor=self.actor, **fields)
        else:
            before = _application_fields(change.before)
            app = services.application_update(application=self.applications[change.key], actor=self.actor,
                                              **{k: v for k, v in fields.items() if before[k] != v})
        self.applications[app.name] = app

    # --- host sources ---

    def _host_sources(self, change: Change) -> None:
        from orbiter.inventory import services
        from orbiter.inventory.models import HostSource

        if change.action == DELETE:
            services.hostsource_delete(source=HostSource.objects.get(name=change.key), actor=self.actor)
            return
        spec = change.after
        env = self.environment(change, "environment", spec["environment"])
        fields = {name: spec[name] for name in HOST_SOURCE_FIELDS}
        if change.action == CREATE:
            services.hostsource_create(name=change.key, environment=env, actor=self.actor, **fields)
            return
        changed = {k: v for k, v in fields.items() if change.before[k] != v}
        if spec["environment"] != change.before["environment"]:
            changed["environment"] = env
        services.hostsource_update(source=HostSource.objects.get(name=change.key), actor=self.actor, **changed)

    # --- hosts ---

    def _hosts(self, change: Change) -> None:
        from orbiter.catalog import services

        if change.action == DELETE:
            services.host_delete(host=self.hosts()[change.key], actor=self.actor)
            return
        spec = change.after
        env = self.environment(change, "environment", spec["environment"])
        apps = [self.application(change, f"applications[{i}]", name) for i, name in enumerate(spec["applications"])]
        if change.action == CREATE:
            taken = self.hosts().get(change.key)
            if taken is not None and taken.source_id is not None:
                raise FleetError.one(change.place, f"{change.path}.name",
                                     f"{change.key} comes from host source {taken.source.name}; a host from a "
                                     "source is not listed by hand (its source keeps it in step)")
            host = services.host_create(certname=change.key, environment=env, applications=apps,
                                        labels=spec["labels"], actor=self.actor)
            self.hosts()[host.certname] = host
            return
        changed = {}
        if spec["environment"] != change.before["environment"]:
            changed["environment"] = env
        if spec["applications"] != change.before["applications"]:
            changed["applications"] = apps
        if spec["labels"] != change.before["labels"]:
            changed["labels"] = spec["labels"]
        self.hosts()[change.key] = services.host_update(host=self.hosts()[change.key], actor=self.actor, **changed)

    # --- pools ---

    def _pools(self, change: Change) -> None:
        from orbiter.loadbalancers import services
        from orbiter.loadbalancers.models import Pool

        if change.action == DELETE:
            services.pool_delete(pool=Pool.objects.get(name=change.key), actor=self.actor)
            return
        spec = change.after
        fields = {name: spec[name] for name in POOL_FIELDS}
        fields["application"] = self.application(change, "application", spec["application"])
        fields["environment"] = self.environment(change, "environment", spec["environment"])
        if change.action == CREATE:
            pool = services.pool_create(name=change.key, actor=self.actor, **fields)
            before_members = {}
        else:
            pool = Pool.objects.get(name=change.key)
            changed = {k: fields[k] for k in (*POOL_FIELDS, "application", "environment")
                       if change.before[k] != spec[k]}
            if changed:
                pool = services.pool_update(pool=pool, actor=self.actor, **changed)
            before_members = change.before["members"]
        if before_members != spec["members"]:
            self._members(change, pool, before_members, spec["members"])

    def _members(self, change: Change, pool, before: dict, after: dict) -> None:
        from orbiter.loadbalancers import services
        from orbiter.loadbalancers.models import PoolMember

        existing = {m.host.certname: m for m in PoolMember.objects.filter(pool=pool, host__source__isnull=True)
                    .select_related("host")}
        for certname, member in existing.items():
            if certname not in after:
                services.pool_member_delete(pool_member=member, actor=self.actor)
        for certname, name in after.items():
            path = f"{change.path}.members[{certname}]"
            host = self.hosts().get(certname)
            if host is None:
                raise FleetError.one(change.place, path, f"unknown host {certname!r}; list it under hosts: "
                                                         "(or let a host source bring it)")
            if host.source_id is not None:
                raise FleetError.one(change.place, path, f"{certname} comes from host source {host.source.name}; "
                                                         "it joins its pools by itself (member_template)")
            try:
                if certname not in existing:
                    services.pool_member_create(pool=pool, host=host, member=name, actor=self.actor)
                elif existing[certname].member != name:
                    services.pool_member_update(pool_member=existing[certname], member=name, actor=self.actor)
            except OrbiterError as error:
                field = error.extra.get("field")
                raise anchored("pools", path, change.place, error, field="" if field in ("host", "member") else field,
                               strip=field) from None

    # --- pipelines ---

    def _pipelines(self, change: Change) -> None:
        from orbiter.pipelines import services

        if change.action == DELETE:
            services.pipeline_delete(application=change.key, actor=self.actor)
            return
        spec = {**change.after, "stages": [{k: v for k, v in stage.items() if k != "url" or v}
                                           for stage in change.after["stages"]]}
        self.application(change, "application", spec["application"])
        services.pipeline_apply(spec=spec, actor=self.actor)

    # --- role bindings ---

    def _role_bindings(self, change: Change) -> None:
        from orbiter.accounts import services

        spec = change.after or change.before
        who = {"user": spec.get("user", ""), "group": spec.get("group", "")}
        if change.action == DELETE:
            services.role_revoke(role=spec["role"], actor=self.actor, environment=spec.get("environment", ""), **who)
            return
        if spec.get("environment"):
            self.environment(change, "environment", spec["environment"])
        if who["group"]:
            services.group_ensure(name=who["group"], actor=self.actor)
        services.role_grant(role=spec["role"], actor=self.actor, environment=spec.get("environment", ""), **who)

    # --- references ---

    def environment(self, change: Change, field: str, name: str):
        return self._reference(change, field, name, self.environments, "environment", "environments")

    def application(self, change: Change, field: str, name: str):
        return self._reference(change, field, name, self.applications, "application", "applications")

    def _reference(self, change, field, name, known: dict, what: str, kind: str):
        if name in known:
            return known[name]
        names = ", ".join(sorted(known)[:20]) or "none yet"
        raise FleetError.one(change.place, f"{change.path}.{field}",
                             f"unknown {what} {name!r}; known: {names} (or define it under {kind}:)")

    def hosts(self) -> dict:
        """Every host by certname (read when first needed: pools and hosts)."""
        if self._host_map is None:
            from orbiter.catalog.models import Host

            self._host_map = {h.certname: h for h in Host.objects.select_related("source")}
        return self._host_map


def _application_fields(spec: dict) -> dict:
    out = {}
    for name, path in APPLICATION_FIELDS.items():
        value = spec
        for part in path:
            value = value[part]
        out[name] = value
    return out
