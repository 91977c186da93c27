"""The control plane's STOMP connection (the listener's) gives the broker the agents'
tolerance: it is declared gone after 3 missed heart-beats, not stomp.py's 1.5 — a broker
(or a listener's receiving thread) busy for two intervals no longer makes it reconnect."""

import socket
import threading
import time

import pytest

from orbiter.bus.stomp import StompBus

pytestmark = pytest.mark.integration
HEARTBEAT_MS = 2000


class StallingProxy(threading.Thread):
    """Forwards one connection to the broker. `stall(s)`: right after the next bytes from
    the broker (a heart-beat, when idle), hold the broker's bytes back for `s` seconds."""

    def __init__(self, broker_port: int):
        super().__init__(daemon=True)
        self.broker_port = broker_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stall_s = 0.0
        self.stalled, self.resumed = threading.Event(), threading.Event()
        self.accepted = 0

    def stall(self, seconds: float) -> None:
        self.stall_s = seconds

    def run(self) -> None:
        client, _ = self.server.accept()
        self.accepted += 1
        upstream = socket.create_connection(("127.0.0.1", self.broker_port))
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._pump(upstream, client, stalling=True)

    def _pump(self, source, sink, stalling=False) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if stalling and self.stall_s:
                    seconds, self.stall_s = self.stall_s, 0.0
                    self.stalled.set()
                    time.sleep(seconds)  # the fault itself: a broker silent for this long
                    self.resumed.set()
        except OSError:
            pass


def test_the_listener_connection_survives_a_broker_silent_for_two_heartbeats(broker):
    proxy = StallingProxy(broker.port)
    proxy.start()
    user, password = broker.control_plane
    bus = StompBus([("127.0.0.1", proxy.port)], user=user, password=password, heartbeat_ms=HEARTBEAT_MS)
    try:
        assert bus._connect()
        proxy.stall(2.25 * HEARTBEAT_MS / 1000)  # beyond stomp.py's 1.5x, within 3x

        assert proxy.stalled.wait(10) and proxy.resumed.wait(20)
        deadline = time.monotonic() + HEARTBEAT_MS / 1000  # one more beat: still there?
        while time.monotonic() < deadline and bus._listener.connected:
            time.sleep(0.05)

        assert bus._listener.connected, "the connection was dropped for a 2-beat silence"
        assert proxy.accepted == 1
    finally:
        bus.close()
