"""Agent fan-out on a real ActiveMQ: one signed `puppet.run` to each of N real agents,
and every signed reply recorded by the control plane.

    python bench/fanout.py --agents 100
    python bench/fanout.py --agents 1000 [--batch-publish] [--processes P] [--consumer listen|plain]
    #   --heartbeat-ms MS  --warmup ROUNDS  --warmup-action puppet.run|ping  --keep
    #   --broker-max-connections N  --timeout S
    #   --switch-interval S  (the agent workers' sys.setswitchinterval; default Python's 0.005)

Starts ActiveMQ (and, for the default `--consumer listen`, PostgreSQL and Redis) on free
127.0.0.1 ports and stops everything at the end; the whole run stops after `--timeout`.

- Agents: N `orbiter_agent.daemon.Agent` instances, each with its own TOML config, key
  pair, state dir (replay store) and STOMP connection, each running `run_forever()` in
  its own thread, spread over `--processes` worker processes (by default one agent per
  process, as on real hosts). The workers are forked by one launcher process
  in a session of its own, after it imported the agent code (shared copy-on-write): the
  kernel's autogroup scheduler then weighs the whole simulated fleet as one group
  against the broker, the listener and the publisher, each in its own session. (Until
  2026-11-26 each worker had a session of its own, so every extra worker process took
  another fair share of the CPU from the control plane.) Their Puppet command is
  /bin/true (exit 0 with --detailed-exitcodes: unchanged). Hooks (no agent code changed):
  each agent's inbox stamps when its request came off the socket; the daemon's log()
  stamps its events.
- Control plane, `--consumer listen` (default): PostgreSQL with the agents enrolled as
  hosts and one deployment of one batch of N hosts, moved to converging by the engine
  (its converge requests are kept, not sent). The timed publish is the agent converge
  driver's loop (make_request + sign + encode + one persistent SEND per host, with the
  `target` the agent requires) on the control plane's StompBus; a real `orbiter listen`
  process verifies and records the replies, and PostgreSQL is polled for the count.
  `--consumer plain`: no database, a thread that verifies each reply and ACKs it.
- `--batch-publish`: the same SENDs inside one STOMP transaction (BEGIN ... COMMIT).
- Before the timed round: the agents' connection reports are consumed, then `--warmup`
  untimed rounds (default 3 of `puppet.run`, with other request ids) warm the broker's JIT
  and every code path.
- `--fleet-nice NICE`: the fleet's autogroup nice value (default 0): how much of the CPU
  the simulated hosts get while the broker, the listener and the publisher want it.
- `--fleet-cpus LIST`: the agents run on these CPUs only and everything else (broker,
  PostgreSQL, Redis, listener, publisher) on the others: on a machine with enough cores,
  the fleet as if it were other machines.
- CPU: per component for the timed round (`cpu_s_publish_to_recorded`, "other_processes"
  is the rest of the machine's busy time: kernel threads, other users), their sum
  `cpu_s_round_total`, and `cpu_floor_s` = that sum / cores (with `--fleet-cpus`, also at
  least each side's own CPU / its CPUs): no timed figure of the round can be shorter on
  this machine.
- Idle RSS: one more agent runs alone as `python -m orbiter_agent run --config ...`;
  VmRSS after it connected and idled `--idle-s` seconds.

Progress lines go to stdout; the last line is one JSON object: agents,
publish_to_last_receive_s, all_replies_recorded_s, agent_idle_rss_mb, CPU seconds per
component (and used by other processes on the machine) and details.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import ActiveMQ, Postgres, Redis, started  # noqa: E402
from orbiter_agent.keys import generate_keypair, write_private_key, write_public_key  # noqa: E402

PYTHON = sys.executable
ACTIVEMQ_DEFAULT_MAX_CONNECTIONS = 1000
SPARE_CONNECTIONS = 16  # the publisher, the listener, the idle agent, a reconnecting agent...
TARGETS = {"publish_to_last_receive_s": 1.0, "all_replies_recorded_s": 3.0, "agent_idle_rss_mb": 40.0}
USUAL_EVENTS = {"starting", "connected", "request", "puppet_run", "reply", "stopping", "stopped"}
_T0 = time.monotonic()


class BenchTimeout(Exception):
    pass


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


def proc_status(pid: int | str) -> dict[str, str]:
    """Fields of /proc/PID/status ({} if the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float | None:
    value = proc_status(pid).get(field)
    return round(int(value.split()[0]) / 1024, 1) if value else None


def pss_mb(pid: int | str = "self") -> float | None:
    """Proportional set size: shared pages counted once across the processes sharing them."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), None)
    return None if kb is None else round(kb / 1024, 1)


def cpu_s(pid: int | str) -> float:
    """User + system CPU seconds of a process and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and proc_status(entry.name).get("PPid") == str(pid):
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds used by each part of the run, between snapshots."""

    def __init__(self, parts: dict[str, list[int] | None]):
        self.parts = parts  # name -> pids (None: this process)
        self.snapshots: list[tuple[float, dict[str, float]]] = []

    def snapshot(self) -> None:
        now = {}
        for name, pids in self.parts.items():
            now[name] = sum(os.times()[:2]) if pids is None else sum(cpu_s(pid) for pid in pids)
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        now["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait
        self.snapshots.append((time.monotonic(), now))

    def between(self, a: int, b: int) -> dict[str, float]:
        """CPU seconds per part; `other_processes`: the rest of the machine (other users' work)."""
        (ta, ca), (tb, cb) = self.snapshots[a], self.snapshots[b]
        used = {name: round(cb[name] - ca[name], 2) for name in ca if name != "machine"}
        machine = cb["machine"] - ca["machine"]
        return {**used, "other_processes": round(max(0.0, machine - sum(used.values())), 2),
                "wall_s": round(tb - ta, 2), "cores": os.cpu_count()}


def cpu_list(text: str) -> set[int]:
    """CPU numbers from "2-5" or "1,3" (taskset's list form), each one this process may use."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or int(last or first) < int(first):
            raise ValueError(f"{text!r} is not a CPU list such as 2-5 or 1,3")
        cpus.update(range(int(first), int(last or first) + 1))
    allowed = os.sched_getaffinity(0)
    if not cpus <= allowed:
        raise ValueError(f"CPU(s) {sorted(cpus - allowed)} not available; this process may use {sorted(allowed)}")
    return cpus


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 4)


# --- the fleet on disk ----------------------------------------------------------------------


def certname(i: int) -> str:
    return f"fanout-{i:05d}.example.test"


def write_fleet(lab: Path, names: list[str], amq: ActiveMQ, heartbeat_ms: int) -> tuple[Path, dict]:
    """The control plane's key pair and, per agent, a config, a key pair, its own broker login
    (as in production: docs/agents.md, "The broker") and a state dir.
    Returns (control-plane private key path, {certname: (config path, public key)})."""
    cp_key, cp_pub = lab / "control-plane.key", lab / "control-plane.pub"
    private_pem, public = generate_keypair()
    write_private_key(cp_key, private_pem)
    write_public_key(cp_pub, public)
    fleet = {}
    for name in names:
        home = lab / "agents" / name
        home.mkdir(parents=True)
        private_pem, public = generate_keypair()
        write_private_key(home / "agent.key", private_pem)
        user, password = amq.credentials(name)
        (home / "stomp.password").touch(mode=0o600)
        (home / "stomp.password").write_text(password + "\n")
        (home / "agent.toml").write_text("\n".join([
            f'certname = "{name}"', f"brokers = {json.dumps([amq.url])}",
            f"username = {json.dumps(user)}", 'password_file = "stomp.password"',
            'private_key = "agent.key"', f"control_plane_public_key = {json.dumps(str(cp_pub))}",
            'state_dir = "state"', f"heartbeat_ms = {heartbeat_ms}",
            "[puppet]", 'command = ["/bin/true"]', 'publicdir = "puppet/public"', 'vardir = "puppet/var"',
        ]) + "\n")  # fmt: skip
        fleet[name] = (home / "agent.toml", public)
    return cp_key, fleet


# --- agents: worker processes, each running many Agent threads ----------------------------


def agents_worker(spec_path: str) -> int:
    """`fanout.py _agents SPEC`: run the agents of SPEC in threads. Talks JSON lines on stdout:
    {"event": "ready"} once all connected, then one line per command read on stdin (see
    below); stops the agents on "stop" or EOF. Dies by itself after spec["timeout_s"]."""
    import logging

    spec = json.loads(Path(spec_path).read_text())
    signal.alarm(int(spec["timeout_s"]))  # SIGALRM's default action ends the process
    # Hundreds of agent threads share this interpreter's GIL (a real agent process has 3):
    # a longer switch interval cuts the futex traffic of the waiting threads but delays the
    # stomp.py receiver threads (docs/benchmarks.md); Python's default unless asked.
    sys.setswitchinterval(spec["switch_interval_s"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # ~5 fds per agent
    logging.basicConfig(level=logging.WARNING)
    others: Counter = Counter()  # unusual agent events, and stomp.py's warnings (e.g. heartbeat timeouts)

    class CountWarnings(logging.Handler):  # `orbiter-agent run` shows stomp.py's errors only
        def emit(self, record: logging.LogRecord) -> None:
            others["stomp.py: " + record.getMessage().split(":", 1)[0][:60]] += 1

    stomp_log = logging.getLogger("stomp.py")
    stomp_log.setLevel(logging.WARNING)
    stomp_log.propagate = False
    stomp_log.addHandler(CountWarnings())

    from orbiter_agent import daemon
    from orbiter_agent.config import load_config

    def emit(obj: dict) -> None:
        print(json.dumps(obj), flush=True)

    # Hooks (no agent code changed): the daemon's log() records, per agent thread, when each
    # event first happened; each agent's inbox stamps when its request came off the socket.
    events: dict[str, dict[str, float]] = {}
    original_log = daemon.log

    def log(event: str, **fields) -> None:
        events.setdefault(threading.current_thread().name, {}).setdefault(event, time.time())
        if event not in USUAL_EVENTS:
            others[event] += 1
        original_log(event, **fields)

    for module in [m for name, m in sys.modules.items() if name.startswith("orbiter_agent")]:
        if getattr(module, "log", None) is original_log:  # daemon.py and transport.py
            module.log = log
    received: dict[str, float] = {}
    requests_subscription = getattr(daemon, "REQUESTS", "requests")

    class TimedInbox(queue.Queue):
        def __init__(self, name: str):
            super().__init__()
            self.name = name

        def put(self, item, block=True, timeout=None):
            if item.subscription == requests_subscription:
                received.setdefault(self.name, time.time())
            super().put(item, block, timeout)

    started_init = time.monotonic()
    agents = []
    for path in spec["configs"]:
        agent = daemon.Agent(load_config(path))
        agent.inbox = TimedInbox(agent.config.certname)  # read by each new connection's listener
        agents.append(agent)
    init_s = time.monotonic() - started_init
    threads = [threading.Thread(target=a.run_forever, name=a.config.certname, daemon=True) for a in agents]
    names = [a.config.certname for a in agents]
    start_wall, start = time.time(), time.monotonic()
    for thread in threads:
        thread.start()
    deadline = start + spec["connect_timeout_s"]
    while time.monotonic() < deadline and not all("connected" in events.get(n, {}) for n in names):
        time.sleep(0.05)
    connect_times = [events[n]["connected"] - start_wall for n in names if "connected" in events.get(n, {})]
    emit({"event": "ready", "pid": os.getpid(), "agents": len(agents), "connected": len(connect_times),
          "init_s": round(init_s, 2), "connect_all_s": round(max(connect_times, default=0), 3),
          "connect_p50_s": pct(connect_times, 0.5), "rss_mb": rss_mb(), "pss_mb": pss_mb(),
          "threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd"))})
    # Commands: "report" (what happened so far), "reset" (report, then forget the requests
    # seen: the next round is timed afresh), "stop" or EOF (the parent is gone).
    while (command := sys.stdin.readline().strip()) in ("report", "reset"):
        emit({"event": command, "received": dict(received),
              "requested": {n: e["request"] for n, e in events.items() if "request" in e},
              "replied": {n: e["reply"] for n, e in events.items() if "reply" in e},
              "other_events": dict(others), "rss_mb": rss_mb(), "pss_mb": pss_mb(),
              "threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd"))})
        if command == "reset":
            received.clear()
            others.clear()
            for agent_events in events.values():
                for event in ("request", "puppet_run", "reply"):
                    agent_events.pop(event, None)
    for agent in agents:
        agent.stop()
    deadline = time.monotonic() + 30
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    emit({"event": "stopped", "still_running": sum(t.is_alive() for t in threads)})
    return 0


def fleet_launcher(plan_path: str) -> int:
    """`fanout.py _fleet PLAN`: fork the agent worker processes, then relay.

    Started in a session of its own; the workers it forks stay in that session, so the
    kernel's autogroup scheduler (on by default) weighs the whole simulated fleet as one
    group against the broker, the listener and the publisher (each in its own session),
    as a fleet on its own hosts would not take their CPU at all. The agent code is
    imported once here and the workers share it copy-on-write (one agent per process
    would otherwise cost ~34 MB each).

    Relays the bench's commands (stdin) to every worker and answers with one merged event
    (stdout), as if the fleet were one worker."""
    import gc

    plan = json.loads(Path(plan_path).read_text())
    if plan.get("nice"):  # this session's autogroup: the whole fleet's weight against the rest
        Path("/proc/self/autogroup").write_text(f"{plan['nice']}\n")
    if plan.get("cpus"):  # the workers forked below inherit it
        os.sched_setaffinity(0, plan["cpus"])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # two pipes per worker
    from orbiter_agent import daemon, protocol  # noqa: F401 - imported before fork, shared
    from orbiter_agent.config import load_config  # noqa: F401

    gc.collect()
    gc.freeze()  # the imported objects stay in pages the workers share
    workers = []  # (pid, command pipe, event pipe)
    for spec, log in plan["workers"]:
        cmd_r, cmd_w = os.pipe()
        ev_r, ev_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: its pipes as stdin/stdout, its own log as stderr
            try:
                for _, w_cmd, w_ev in workers:  # the pipes of the workers forked before this one
                    os.close(w_cmd.fileno())
                    os.close(w_ev.fileno())
                os.close(cmd_w)
                os.close(ev_r)
                os.dup2(cmd_r, 0)
                os.dup2(ev_w, 1)
                log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(log_fd, 2)
                for fd in (cmd_r, ev_w, log_fd):
                    os.close(fd)
                sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                code = agents_worker(spec)
            except BaseException:  # noqa: BLE001 - a forked child must never return into the launcher
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        os.close(cmd_r)
        os.close(ev_w)
        workers.append((pid, os.fdopen(cmd_w, "w", encoding="utf-8"), os.fdopen(ev_r, encoding="utf-8")))

    def gather(event: str) -> list[dict]:
        answers = []
        for pid, _, events in workers:
            for line in events:
                with contextlib.suppress(ValueError):
                    obj = json.loads(line)
                    if obj.get("event") == event:
                        answers.append(obj)
                        break
            else:
                raise RuntimeError(f"worker {pid} ended before {event!r}")
        return answers

    def emit(obj: dict) -> None:
        print(json.dumps(obj), flush=True)

    try:
        emit(merged("ready", gather("ready")))
        while (command := sys.stdin.readline().strip()) in ("report", "reset"):
            for _, commands, _ in workers:
                commands.write(command + "\n")
                commands.flush()
            emit(merged(command, gather(command)))
        for _, commands, _ in workers:
            with contextlib.suppress(OSError):
                commands.write("stop\n")
                commands.flush()
        emit(merged("stopped", gather("stopped")))
    finally:
        for _, commands, _ in workers:
            with contextlib.suppress(OSError):
                commands.close()
        for pid, _, _ in workers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 0


def merged(event: str, answers: list[dict]) -> dict:
    """The workers' answers to one command as one event: counts and memory summed, times
    the latest, per-agent stamps united."""
    out: dict = {"event": event, "processes": len(answers), "pids": [a.get("pid") for a in answers]}
    for key in ("agents", "connected", "rss_mb", "pss_mb", "threads", "fds", "still_running"):
        if any(key in a for a in answers):
            out[key] = round(sum(a.get(key) or 0 for a in answers), 1)
    for key in ("init_s", "connect_all_s", "connect_p50_s"):
        if any(key in a for a in answers):
            out[key] = max(a.get(key) or 0 for a in answers)
    if any("rss_mb" in a for a in answers):
        out["rss_mb_max"] = max(a.get("rss_mb") or 0 for a in answers)
    for key in ("received", "requested", "replied"):
        if any(key in a for a in answers):
            out[key] = {k: v for a in answers for k, v in a.get(key, {}).items()}
    if any("other_events" in a for a in answers):
        out["other_events"] = dict(sum((Counter(a.get("other_events", {})) for a in answers), Counter()))
    return out


class Fleet:
    """The fleet launcher process (`fanout.py _fleet`), spoken to over its stdin/stdout."""

    def __init__(self, plan: Path, log: Path):
        self.log_path = log
        with open(log, "ab") as err:
            self.popen = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "_fleet", str(plan)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                          text=True, cwd=ROOT, start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if obj.get("event") == event:
                    return obj
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"agent fleet: no {event!r} within {timeout:.0f}s (exit {self.popen.poll()})\n{tail}")

    def tell(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.popen.pid, signal.SIGKILL)  # the launcher and every worker it forked
        self.popen.wait(10)


# --- one agent alone: idle RSS ---------------------------------------------------------------


def idle_agent_rss(config: Path, log: Path, idle_s: float) -> dict:
    """Start `python -m orbiter_agent run`, wait for it to connect, let it idle, read /proc."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([PYTHON, "-m", "orbiter_agent", "run", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while b'"connected"' not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the idle agent did not connect:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        time.sleep(idle_s)
        status = proc_status(proc.pid)
        return {"agent_idle_rss_mb": rss_mb(proc.pid), "agent_idle_hwm_mb": rss_mb(proc.pid, "VmHWM"),
                "agent_idle_threads": int(status.get("Threads", 0)),
                "agent_idle_fds": len(os.listdir(f"/proc/{proc.pid}/fd"))}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

# --- the control plane -----------------------------------------------------------------------


def control_plane_env(lab: Path, services: tuple, cp_key: Path, with_database: bool) -> dict:
    env = {
        "ORBITER_MODE": "server" if with_database else "standalone",
        "ORBITER_SECRET_KEY": "bench-only-secret",
        "ORBITER_DATA_DIR": str(lab / "orbiter"),
        "ORBITER_SIGNING_KEY_FILE": str(cp_key),
        "ORBITER_BUS_URL": "memory://",  # `orbiter listen` gets the broker's URL
        "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
        "DJANGO_SETTINGS_MODULE": "orbiter.settings",
    }
    for service in services:
        if isinstance(service, (Postgres, Redis)):
            env[service.env_var] = service.url
        if isinstance(service, ActiveMQ):  # the control plane's broker login
            env["ORBITER_STOMP_USER"], env["ORBITER_STOMP_PASSWORD"] = service.control_plane
    return env


def deployment_converging(fleet: dict, names: list[str]) -> tuple:
    """Enrolled hosts for the whole fleet and one deployment of one batch of the N `names`,
    advanced by the engine until every host is converging. The engine's converge requests
    are kept, not sent: they are sent, timed, by `publish()`. Returns (deployment, requests)."""
    from django.core.management import call_command

    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Host
    from orbiter.converge.drivers.agent import AgentConverge
    from orbiter.deployments import engine, services, states
    from orbiter.deployments.models import HostDeployment

    call_command("migrate", verbosity=0)
    app = catalog.application_create(
        name="fanout", package="fanout", actor="bench", converge_driver="agent", converge_options={},
        health_driver="simulated", rollout_defaults={"converge_timeout_s": 600},
    )
    env = catalog.environment_create(name="fanout", order=0, actor="bench")
    hosts = Host.objects.bulk_create(  # enrolled: the trusted key set, as agent_enroll() leaves it
        Host(certname=name, environment=env, agent_public_key=public) for name, (_, public) in fleet.items()
    )
    app.hosts.add(*[h for h in hosts if h.certname in set(names)])
    catalog.artifact_register(application=app, nevra="fanout-1.0.0-1.noarch", actor="bench")
    captured: list = []
    real_send = AgentConverge.send
    AgentConverge.send = lambda self, requests: captured.extend(requests)
    try:
        deployment = services.deployment_create(application="fanout", environment="fanout", version="1.0.0-1",
                                                actor="bench", strategy={"batch_size": str(len(names))})
        engine.advance(deployment.pk)
    finally:
        AgentConverge.send = real_send
    converging = HostDeployment.objects.filter(deployment=deployment, status=states.CONVERGING).count()
    if converging != len(names) or len(captured) != len(names):
        raise RuntimeError(f"set-up: {converging} hosts converging, {len(captured)} requests, wanted {len(names)}")
    return deployment, captured


def publish(bus, requests: list, key, transaction: bool, action: str = "puppet.run") -> tuple[float, float]:
    """The agent converge driver's loop (orbiter/converge/drivers/agent.py): per host,
    make_request + sign + encode + one persistent SEND to its queue; with `transaction`,
    all SENDs inside one STOMP transaction. Returns (started, done) in epoch seconds."""
    from orbiter.bus.base import REPLIES, agent_queue
    from orbiter_agent import protocol

    conn = bus._conn  # StompBus has no transaction API: its connection's
    started = now = time.time()
    tx = conn.begin() if transaction else None
    for request in requests:
        timeout = max(1, min(int(request.timeout_s), 7200))
        params = {"noop": False, "tags": [], "timeout_s": timeout} if action == "puppet.run" else {}
        envelope = protocol.make_request(
            action, params, target=request.certname, sender=protocol.CONTROL_PLANE, ttl_s=timeout + 300,
            now=now, id=request.request_id if action == "puppet.run" else f"{action}-{request.request_id}",
        )
        headers = {"reply-to": REPLIES, **({"transaction": tx} if tx else {})}
        bus.send(agent_queue(request.certname), protocol.encode(protocol.sign(envelope, key)), headers=headers)
    if tx:
        conn.commit(tx)
    return started, time.time()


class PlainConsumer(threading.Thread):
    """--consumer plain: verify each message on the reply queue against the agents' keys,
    note when each puppet.run reply arrived, ACK everything."""

    def __init__(self, broker: tuple[str, int], login: tuple[str, str], fleet: dict):
        super().__init__(daemon=True, name="plain-consumer")
        from orbiter.bus.base import REPLIES
        from orbiter.bus.stomp import StompBus
        from orbiter_agent.keys import KeyRing, parse_public_key

        self.keys = KeyRing({name: parse_public_key(public.encode()) for name, (_, public) in fleet.items()})
        self.bus = StompBus([broker], user=login[0], password=login[1])
        self.bus.subscribe(REPLIES, self.handle)
        self.recorded: dict[str, float] = {}
        self.others: dict[str, float] = {}  # sender -> when its last other message came
        self.refused = 0
        self.stopping = False

    def handle(self, message) -> None:
        from orbiter_agent import protocol

        try:
            envelope = protocol.decode_and_verify(message.body, keys=self.keys, now=time.time())
            if envelope.kind == "reply" and envelope.action == "puppet.run" and (envelope.result or {}).get("ok"):
                self.recorded.setdefault(envelope.sender, time.time())
            self.others[envelope.sender] = time.time()  # any message: reports, ping replies, warm-up runs
        except protocol.ProtocolError:
            self.refused += 1
        message.ack()

    def run(self) -> None:
        while not self.stopping:
            self.bus.step(timeout=0.1)
        self.bus.close()


class Recorded:
    """When the control plane had recorded how many replies: the listener's results in
    PostgreSQL (polled every 25 ms), or the plain consumer's own clock."""

    def __init__(self, deployment, consumer: PlainConsumer | None):
        self.deployment, self.consumer = deployment, consumer
        self.samples: list[tuple[float, int]] = []

    def hosts_seen_since(self, since: float) -> int:
        """Hosts whose latest report or ping reply the consumer handled at `since` or later."""
        if self.consumer is not None:
            return sum(t >= since for t in list(self.consumer.others.values()))
        from datetime import UTC, datetime

        from orbiter.catalog.models import Host

        # the listener stamps last_seen_at for every message it handles from a host
        return Host.objects.filter(last_seen_at__gte=datetime.fromtimestamp(since, UTC)).count()

    def count(self) -> int:
        if self.consumer is not None:
            return len(self.consumer.recorded)
        from orbiter.deployments.models import HostDeployment

        return HostDeployment.objects.filter(deployment=self.deployment, outcome__isnull=False).count()

    def wait(self, n: int, wait_s: float) -> list[float]:
        """Wait until n replies are recorded; return when each was (epoch seconds)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            count = self.count()
            self.samples.append((time.time(), count))
            if count >= n:
                break
            time.sleep(0.025 if self.consumer is None else 0.005)
        if self.consumer is not None:
            return sorted(self.consumer.recorded.values())
        times = []  # the first sample at which each reply was seen recorded
        for (when, count), (_, before) in zip(self.samples, [(0, 0), *self.samples], strict=False):
            times += [when] * max(0, count - before)
        return times


# --- the run ---------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_fleet":
        sys.exit(fleet_launcher(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--batch-publish", action="store_true", help="all SENDs in one STOMP transaction")
    parser.add_argument("--processes", type=int, default=0,
                        help="worker processes for the agents (default 0: one per agent, as on real hosts)")
    parser.add_argument("--consumer", choices=["listen", "plain"], default="listen",
                        help="listen: PostgreSQL + a real `orbiter listen` (default); plain: a verifying thread")
    parser.add_argument("--heartbeat-ms", type=int, default=10000, help="agents' heartbeat_ms (default 10000)")
    parser.add_argument("--switch-interval", type=float, default=0.005, metavar="S",
                        help="sys.setswitchinterval in the agent workers (default 0.005, Python's)")
    parser.add_argument("--fleet-nice", type=int, default=0, metavar="NICE",
                        help="the fleet's autogroup nice value, 0-19 (default 0)")
    parser.add_argument("--fleet-cpus", default="", metavar="LIST",
                        help="CPUs for the agents only, e.g. 2-5 or 1,3 (default: all shared); the broker, "
                             "database, listener and publisher get the others, as if the fleet were other machines")
    parser.add_argument("--warmup", type=int, default=3, metavar="ROUNDS",
                        help="untimed rounds before the timed puppet.run round (default 3)")
    parser.add_argument("--warmup-action", choices=["puppet.run", "ping"], default="puppet.run",
                        help="what the untimed rounds send (default puppet.run: every path the timed round takes)")
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle time before reading the lone agent's RSS")
    parser.add_argument("--wait-s", type=float, default=120.0, help="give up waiting for replies after this")
    parser.add_argument("--timeout", type=int, default=900, help="the whole run stops after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs) and say where")
    parser.add_argument("--broker-max-connections", type=int, default=0,
                        help="ActiveMQ's maximumConnections (default: ActiveMQ's 1000, or N+16 when more are needed)")
    args = parser.parse_args()
    if args.agents < 1 or args.processes < 0:
        parser.error("--agents must be at least 1 and --processes at least 0 (0: one per agent)")
    if not 0 < args.switch_interval <= 1:
        parser.error("--switch-interval must be in (0, 1] seconds")
    if not 0 <= args.fleet_nice <= 19:
        parser.error("--fleet-nice must be 0 to 19")
    try:
        args.fleet_cpus = cpu_list(args.fleet_cpus) if args.fleet_cpus else set()
    except ValueError as error:
        parser.error(f"--fleet-cpus: {error}")
    args.control_plane_cpus = os.sched_getaffinity(0) - args.fleet_cpus
    if args.fleet_cpus and not args.control_plane_cpus:
        parser.error(f"--fleet-cpus must leave a CPU for the rest; this process may use {sorted(os.sched_getaffinity(0))}")

    def on_alarm(signum, frame):
        raise BenchTimeout(f"overall timeout: {args.timeout}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    lab = Path(tempfile.mkdtemp(prefix="orbiter-fanout-"))
    try:
        result = run(args, lab)
    finally:
        signal.alarm(0)
        if args.keep:
            progress(f"kept {lab}")
        else:
            shutil.rmtree(lab, ignore_errors=True)
    print(json.dumps(result))


def run(args, lab: Path) -> dict:
    n, listen = args.agents, args.consumer == "listen"
    if args.fleet_cpus:  # the broker, PostgreSQL, Redis and the listener, started below, inherit it
        os.sched_setaffinity(0, args.control_plane_cpus)
    processes = min(args.processes, n) or n
    # One STOMP connection per agent plus a few: ActiveMQ refuses connections beyond its limit.
    needed = n + SPARE_CONNECTIONS
    max_connections = args.broker_max_connections or (needed if needed > ACTIVEMQ_DEFAULT_MAX_CONNECTIONS else None)
    amq = ActiveMQ(lab, max_connections=max_connections)
    services = (amq, Postgres(lab), Redis(lab)) if listen else (amq,)
    names = [certname(i) for i in range(n)]
    idle_name = "fanout-idle.example.test"
    clock = time.monotonic()
    cp_key, configs = write_fleet(lab, [*names, idle_name], amq, args.heartbeat_ms)
    progress(f"wrote {n + 1} agent configs and key pairs in {time.monotonic() - clock:.1f}s")
    out: dict = {"agents": n, "processes": processes, "batch_publish": args.batch_publish,
                 "warmup": args.warmup, "warmup_action": args.warmup_action, "heartbeat_ms": args.heartbeat_ms,
                 "worker_switch_interval_s": args.switch_interval, "fleet_nice": args.fleet_nice,
                 "fleet_cpus": sorted(args.fleet_cpus) or "all (shared)",
                 "control_plane_cpus": sorted(args.control_plane_cpus),
                 "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
                 "recorded_by": "orbiter listen (ReplyListener -> PostgreSQL), polled every 25 ms" if listen
                 else "plain verifying consumer thread (no database)"}
    fleet: Fleet | None = None
    listener = consumer = bus = None
    with started(*services):
        out["broker_max_connections"] = max_connections or ACTIVEMQ_DEFAULT_MAX_CONNECTIONS
        out["broker_rss_idle_mb"] = rss_mb(amq.proc.pid)
        progress(f"activemq on {amq.url} (maximumConnections {out['broker_max_connections']})"
                 + (", postgresql, redis" if listen else ""))
        try:
            out.update(idle_agent_rss(configs[idle_name][0], lab / "idle-agent.log", args.idle_s))
            progress(f"one agent process idle {args.idle_s:g}s: VmRSS {out['agent_idle_rss_mb']} MB "
                     f"(peak {out['agent_idle_hwm_mb']}), {out['agent_idle_threads']} threads")

            os.environ.update(control_plane_env(lab, services, cp_key, listen))
            broker = ("127.0.0.1", amq.port)
            deployment = None
            if listen:
                import django

                django.setup()
                clock = time.monotonic()
                deployment, requests = deployment_converging(configs, names)
                progress(f"deployment #{deployment.pk}: {n} hosts converging ({time.monotonic() - clock:.1f}s)")
                from lab.processes import Process

                listener = Process(["listen"], {"ORBITER_BUS_URL": amq.url}, lab / "listener.log")
                listener.wait_for_log("listening for agent replies")
            else:
                from orbiter.converge.base import ConvergeRequest

                requests = [ConvergeRequest(request_id=f"fanout-{i}", certname=name, application="fanout",
                                            package="fanout", version="1.0.0-1", timeout_s=600)
                            for i, name in enumerate(names)]
                consumer = PlainConsumer(broker, amq.control_plane, configs)
                consumer.start()
            recorded = Recorded(deployment, consumer)

            plan = []
            for i in range(processes):
                spec = lab / f"worker-{i}.json"
                spec.write_text(json.dumps({"configs": [str(configs[c][0]) for c in names[i::processes]],
                                            "timeout_s": args.timeout + 60, "connect_timeout_s": 120,
                                            "switch_interval_s": args.switch_interval}))
                plan.append([str(spec), str(lab / f"worker-{i}.log")])
            (lab / "fleet.json").write_text(json.dumps({"workers": plan, "nice": args.fleet_nice,
                                                      "cpus": sorted(args.fleet_cpus)}))
            fleet = Fleet(lab / "fleet.json", lab / "fleet.log")
            ready = fleet.expect("ready", 300)
            connected = ready["connected"]
            out.update(agents_connected=connected, connect_all_s=ready["connect_all_s"],
                       agent_init_s=ready["init_s"], broker_rss_connected_mb=rss_mb(amq.proc.pid),
                       broker_threads_connected=int(proc_status(amq.proc.pid).get("Threads", 0)),
                       fleet_pss_connected_mb=ready["pss_mb"])
            progress(f"{connected}/{n} agents connected in {out['connect_all_s']}s "
                     f"(agent objects built in {out['agent_init_s']}s); {processes} worker processes: "
                     f"PSS {ready['pss_mb']} MB in all (RSS {ready['rss_mb']}, largest {ready['rss_mb_max']}), "
                     f"{ready['threads']} threads, {ready['fds']} fds; broker RSS "
                     f"{out['broker_rss_connected_mb']} MB, {out['broker_threads_connected']} threads")
            if connected < n:
                raise RuntimeError(f"only {connected} of {n} agents connected")

            # Each agent sent a report (its facts) when it connected: let the consumer work
            # through them first, so the replies do not queue behind them.
            clock = time.monotonic()
            while recorded.hosts_seen_since(0) < len(configs) and time.monotonic() - clock < 60:
                time.sleep(0.05)
            out["connect_reports_drained_s"] = round(time.monotonic() - clock, 2)
            progress(f"{recorded.hosts_seen_since(0)}/{len(configs)} connection reports consumed "
                     f"({out['connect_reports_drained_s']}s)")

            from orbiter.bus.stomp import StompBus
            from orbiter_agent.keys import load_private_key

            bus = StompBus([broker], user=amq.control_plane[0], password=amq.control_plane[1])
            bus.send("/queue/orbiter.fanout.warmup", b"{}", persistent=False)  # connects
            key = load_private_key(cp_key)
            for round_ in range(args.warmup):
                # Untimed rounds first (other request ids): the broker's JIT compiler done, the
                # agents' and the listener's code paths warm (and the agent processes' pages
                # copied), as in a system that has been running. One round was not enough for
                # the broker: its C2 compiler threads still took ~2 CPU-s in the timed round.
                w0, _ = publish(bus, [replace(r, request_id=f"warmup{round_}-{r.request_id}") for r in requests],
                                key, False, action=args.warmup_action)
                while recorded.hosts_seen_since(w0) < n and time.time() - w0 < args.wait_s:
                    time.sleep(0.02)
                fleet.tell("reset")
                received = [t - w0 for t in fleet.expect("reset", 60)["received"].values()]
                out["warmup_last_round"] = {"action": args.warmup_action,
                                 "last_receive_s": round(max(received), 3) if received else None,
                                 "all_replies_consumed_s": round(time.time() - w0, 3),
                                 "replies_consumed": recorded.hosts_seen_since(w0)}
                progress(f"warm-up: {n} {args.warmup_action}, last received after {out['warmup_last_round']['last_receive_s']}s, "
                         f"all replies consumed after {out['warmup_last_round']['all_replies_consumed_s']}s")
            if consumer is not None:
                consumer.recorded.clear()  # the warm-up's puppet.run replies
            parts = {"agent_processes": ready["pids"], "broker": [amq.proc.pid]}
            if listen:
                postmaster = int((services[1].data / "postmaster.pid").read_text().split()[0])
                parts.update(listener=[listener.popen.pid], postgres=[postmaster, *children(postmaster)])
            parts["bench_process"] = None  # the publisher (and the plain consumer, or the 25 ms polling)
            cpu = CpuMeter(parts)
            cpu.snapshot()
            time.sleep(1.0)  # also the idle baseline
            cpu.snapshot()
            progress(f"publishing {n} puppet.run requests" + (" in one transaction" if args.batch_publish else ""))
            t0, published = publish(bus, requests, key, args.batch_publish)
            times = recorded.wait(n, args.wait_s)
            cpu.snapshot()
            out["cpu_s_idle_1s"] = cpu.between(0, 1)
            out["cpu_s_publish_to_recorded"] = used = cpu.between(1, 2)
            # The shortest this round could have been on this machine at 100 % of every core,
            # given the CPU it took: a floor the timed figures cannot go below.
            busy = sum(v for k, v in used.items() if k not in ("wall_s", "cores"))
            out["cpu_s_round_total"] = round(busy, 2)
            out["cpu_floor_s"] = round(busy / used["cores"], 2)
            if args.fleet_cpus:  # each side is confined to its CPUs ("other" may run anywhere)
                rest = busy - used["agent_processes"] - used["other_processes"]
                out["cpu_floor_s"] = round(max(busy / used["cores"], used["agent_processes"] / len(args.fleet_cpus),
                                               rest / len(args.control_plane_cpus)), 2)
            out["publish_s"] = round(published - t0, 4)
            progress(f"published in {out['publish_s']}s; {len(times)}/{n} replies recorded")

            fleet.tell("report")
            report = fleet.expect("report", 60)
            out.update(figures(t0, [report], times, n))
            out["broker_rss_after_mb"] = rss_mb(amq.proc.pid)
            out["fleet_pss_mb"] = report["pss_mb"]
            out["fleet_pss_per_agent_mb"] = round(report["pss_mb"] / n, 2)
            out["agent_other_events"] = report["other_events"]
            if listen:
                out.update(listener_checks(deployment, listener))
            else:
                out["refused_replies"] = consumer.refused
            fleet.tell("stop")
            with contextlib.suppress(RuntimeError):
                fleet.expect("stopped", 60)
        finally:
            if fleet is not None:
                fleet.kill()
            if listener is not None:
                listener.stop()
            if consumer is not None:
                consumer.stopping = True
                consumer.join(5)
            if bus is not None:
                bus.close()
    out["targets_met"] = {k: out.get(k) is not None and (out[k] <= v if k == "agent_idle_rss_mb" else out[k] < v)
                          for k, v in TARGETS.items()}
    out["stack"] = (f"activemq 5.17 stomp+kahaDB; {processes} agent processes (forked by one launcher, one session) x {-(-n // processes)} "
                    "agent(s) each (each agent loop in a thread); puppet = /bin/true; "
                    + ("postgresql 15 + orbiter listen" if listen else "plain consumer"))
    progress(f"publish -> last receive {out.get('publish_to_last_receive_s')}s, all replies recorded "
             f"{out.get('all_replies_recorded_s')}s, idle agent {out.get('agent_idle_rss_mb')} MB")
    return out


def figures(t0: float, reports: list[dict], recorded: list[float], n: int) -> dict:
    received = {k: v for r in reports for k, v in r["received"].items()}
    requested = {k: v for r in reports for k, v in r["requested"].items()}
    replied = {k: v for r in reports for k, v in r["replied"].items()}
    latency = [t - t0 for t in received.values()]
    verify = [requested[k] - received[k] for k in requested if k in received]
    handle = [replied[k] - received[k] for k in replied if k in received]
    rec = sorted(t - t0 for t in recorded)

    def ms(values, q):
        value = pct(values, q)
        return None if value is None else round(value * 1000, 1)

    return {
        "received": len(received),
        "publish_to_last_receive_s": round(max(latency), 4) if len(received) == n else None,
        "receive_p50_s": pct(latency, 0.5),
        "receive_p90_s": pct(latency, 0.9),
        "all_replies_recorded_s": round(rec[-1], 4) if len(rec) >= n else None,
        "replies_recorded": len(rec),
        "first_reply_recorded_s": round(rec[0], 4) if rec else None,
        "recorded_p50_s": pct(rec, 0.5),
        "recording_rate_per_s": round((len(rec) - 1) / (rec[-1] - rec[0]), 1)
        if len(rec) > 1 and rec[-1] > rec[0] else None,
        "last_reply_sent_s": round(max(replied.values()) - t0, 4) if replied else None,
        "agent_verify_and_store_ms_p50": ms(verify, 0.5),
        "agent_receive_to_reply_ms_p50": ms(handle, 0.5),
        "agent_receive_to_reply_ms_p90": ms(handle, 0.9),
        "agent_receive_to_reply_ms_max": ms(handle, 1.0),
    }


def listener_checks(deployment, listener) -> dict:
    from orbiter.deployments.models import HostDeployment

    hds = HostDeployment.objects.filter(deployment=deployment)
    text = listener.log_path.read_text(errors="replace")
    return {"recorded_ok_unchanged": hds.filter(outcome__ok=True, puppet__kind="unchanged").count(),
            "listener_refused": text.count("refused a reply"),
            "listener_rss_mb": rss_mb(listener.popen.pid)}


if __name__ == "__main__":
    main()
