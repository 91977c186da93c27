"""The ENC script Puppet runs fetches the classification over HTTP with the token."""

import pytest
import yaml

from orbiter.catalog.models import Host
from orbiter_agent.enc import UNREACHABLE
from orbiter_agent.enc import main as enc_main
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import deploy, host

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_enc_script_prints_the_pinned_version(live_server, settings, tasks, tmp_path, capsys):
    settings.ORBITER_ENC_TOKEN = "enc-secret"
    (tmp_path / "token").write_text("enc-secret\n")
    build_fleet(hosts=1)
    Host.objects.update(agent_public_key=generate_keypair()[1])
    deploy(tasks, "1.1.0-1")

    code = enc_main([host(1), "--url", live_server.url, "--token-file", str(tmp_path / "token"),
                     "--config", str(tmp_path / "none.toml")])

    assert code == 0
    assert yaml.safe_load(capsys.readouterr().out)["classes"]["shop_api"]["version"] == "1.1.0-1"


def test_the_enc_script_fails_for_an_unknown_node_so_puppet_does_not_apply_an_empty_catalog(
    live_server, settings, tmp_path, capsys
):
    settings.ORBITER_ENC_TOKEN = "enc-secret"
    (tmp_path / "token").write_text("enc-secret")

    code = enc_main(["ghost.example.test", "--url", live_server.url, "--token-file", str(tmp_path / "token")])

    assert code == 1
    assert "404" in capsys.readouterr().err


def test_the_enc_script_reads_its_settings_from_its_config_file(live_server, settings, tasks, tmp_path, capsys):
    settings.ORBITER_ENC_TOKEN = "enc-secret"
    (tmp_path / "token").write_text("enc-secret")
    (tmp_path / "enc.toml").write_text(f'url = "{live_server.url}"\ntoken_file = "{tmp_path / "token"}"\n')
    build_fleet(hosts=1)
    Host.objects.update(agent_public_key=generate_keypair()[1])
    deploy(tasks, "1.0.0-1")

    assert enc_main([host(1), "--config", str(tmp_path / "enc.toml")]) == 0
    assert "1.0.0-1" in capsys.readouterr().out


def test_the_enc_script_without_a_url_says_where_to_set_it(tmp_path, capsys):
    assert enc_main(["h1.example.test", "--config", str(tmp_path / "none.toml")]) == 2
    assert "ORBITER_ENC_URL" in capsys.readouterr().err


# --- Orbiter's web restarting: retried within the patience, then an outage Puppet reports --------


class Orbiter:
    """A stand-in for Orbiter's web on loopback: answers `codes` in turn (then 200), or is
    not listening at all until `up()`."""

    def __init__(self, codes=()):
        import socket

        self.codes, self.requests = list(codes), 0
        with socket.socket() as s:  # a free port, nobody listening on it yet
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None

    def up(self):
        import http.server
        import threading

        orbiter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                orbiter.requests += 1
                code = orbiter.codes.pop(0) if orbiter.codes else 200
                body = b"classes: {}\n" if code == 200 else b"not now"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def orbiter():
    made = []

    def make(codes=()):
        made.append(Orbiter(codes))
        return made[-1]

    yield make
    for o in made:
        o.close()


def test_the_enc_script_waits_for_orbiter_to_come_back_within_its_patience(orbiter, tmp_path, capsys):
    import threading

    web = orbiter()
    threading.Timer(1.5, web.up).start()  # Orbiter's web restarts: down 1.5 s

    code = enc_main(["h1.example.test", "--url", web.url, "--patience-s", "20", "--config", str(tmp_path / "no")])

    assert code == 0, capsys.readouterr()
    assert capsys.readouterr().out == "classes: {}\n"


def test_the_enc_script_retries_a_server_error_and_takes_the_answer_after_it(orbiter, tmp_path, capsys):
    web = orbiter([503, 502]).up()

    code = enc_main(["h1.example.test", "--url", web.url, "--config", str(tmp_path / "no")])

    assert code == 0 and web.requests == 3
    assert capsys.readouterr().out == "classes: {}\n"


def test_the_enc_script_does_not_retry_an_unknown_node(orbiter, tmp_path, capsys):
    web = orbiter([404]).up()

    code = enc_main(["ghost.example.test", "--url", web.url, "--config", str(tmp_path / "no")])

    assert code == 1 and web.requests == 1
    out = capsys.readouterr().out
    assert out.startswith("orbiter-enc: 404") and UNREACHABLE not in out


def test_the_enc_script_gives_up_after_its_patience_and_says_orbiter_is_unreachable(orbiter, tmp_path, capsys,
                                                                                     monkeypatch):
    import time

    web = orbiter()  # never up
    monkeypatch.setenv("ORBITER_ENC_PATIENCE_S", "2")
    started = time.monotonic()

    code = enc_main(["h1.example.test", "--url", web.url, "--config", str(tmp_path / "no")])

    took = time.monotonic() - started
    assert code == 1 and 2.0 <= took < 4.0, took
    out = capsys.readouterr().out  # Puppet quotes stdout in its error
    assert out.startswith(UNREACHABLE) and web.url in out and "in 2 s" in out


@pytest.mark.parametrize("value", ["soon", "-1", "601"])
def test_the_enc_script_refuses_a_patience_that_is_not_a_bounded_number_of_seconds(value, tmp_path, capsys):
    code = enc_main(["h1.example.test", "--url", "http://127.0.0.1:1", "--patience-s", value,
                     "--config", str(tmp_path / "no")])

    assert code == 2
    assert "patience_s" in capsys.readouterr().err
