"""Real yum repositories for the watcher's tests: RPMs built with rpmbuild, indexed with
createrepo_c, served on 127.0.0.1 by a small HTTP server that honours ETag and
If-Modified-Since and remembers the headers of every request it received."""

import gzip
import hashlib
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import zstandard

SPEC = """\
Name: %{pkgname}
Version: %{pkgver}
Release: %{pkgrel}
%{?pkgepoch:Epoch: %{pkgepoch}}
Summary: A package built by Orbiter's tests
License: MIT
%global debug_package %{nil}
%if "%{pkgarch}" == "noarch"
BuildArch: noarch
%endif

%description
Built during a test run.

%install
mkdir -p %{buildroot}/opt/%{name}
echo %{version}-%{release} > %{buildroot}/opt/%{name}/VERSION

%files
/opt/%{name}/VERSION
"""


class RpmFactory:
    """Builds RPMs once per test session (rpmbuild, ~0.3 s each) and copies them into repositories."""

    def __init__(self, top: Path):
        self.top = top
        (top / "SPECS").mkdir(parents=True, exist_ok=True)
        (top / "SPECS" / "pkg.spec").write_text(SPEC)
        self.built: dict[tuple, Path] = {}

    def build(self, name: str, version: str, release: str = "1", arch: str = "noarch", epoch: int = 0) -> Path:
        key = (name, version, release, arch, epoch)
        if key not in self.built:
            defines = {"_topdir": str(self.top), "pkgname": name, "pkgver": version, "pkgrel": release,
                       "pkgarch": arch}
            if epoch:
                defines["pkgepoch"] = str(epoch)
            args = ["rpmbuild", "-bb", str(self.top / "SPECS" / "pkg.spec")]
            for macro, value in defines.items():
                args += ["--define", f"{macro} {value}"]
            if arch != "noarch":
                args += ["--target", arch]
            done = subprocess.run(args, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            self.built[key] = self.top / "RPMS" / arch / f"{name}-{version}-{release}.{arch}.rpm"
        return self.built[key]


class Repository:
    """A directory indexed by createrepo_c."""

    def __init__(self, root: Path, rpms: RpmFactory):
        self.root, self.rpms = root, rpms
        root.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, version: str, release: str = "1", arch: str = "noarch", epoch: int = 0) -> Path:
        built = self.rpms.build(name, version, release, arch, epoch)
        return Path(shutil.copy2(built, self.root / built.name))

    def index(self, *, compress: str = "gz", update: bool = False) -> None:
        """createrepo_c (gz or xz); zstd is produced by recompressing, as createrepo_c 0.17 refuses it."""
        args = ["createrepo_c", "--no-database"]
        if update:
            args.append("--update")
        if compress == "xz":
            args.append("--general-compress-type=xz")
        done = subprocess.run([*args, str(self.root)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        if compress == "zstd":
            self.recompress_primary_as_zstd()

    @property
    def repomd(self) -> Path:
        return self.root / "repodata" / "repomd.xml"

    def primary(self) -> Path:
        [path] = (self.root / "repodata").glob("*primary.xml*")
        return path

    def recompress_primary_as_zstd(self) -> None:
        """Rewrite primary as .xml.zst and repomd.xml's location, checksum and size for it."""
        old = self.primary()
        xml = gzip.decompress(old.read_bytes())
        data = zstandard.ZstdCompressor().compress(xml)
        digest = hashlib.sha256(data).hexdigest()
        new = old.parent / f"{digest}-primary.xml.zst"
        new.write_bytes(data)
        old.unlink()
        ns = "http://linux.duke.edu/metadata/repo"
        ET.register_namespace("", ns)
        ET.register_namespace("rpm", "http://linux.duke.edu/metadata/rpm")
        tree = ET.parse(self.repomd)
        for record in tree.getroot().iter(f"{{{ns}}}data"):
            if record.get("type") == "primary":
                record.find(f"{{{ns}}}location").set("href", f"repodata/{new.name}")
                checksum = record.find(f"{{{ns}}}checksum")
                checksum.set("type", "sha256")
                checksum.text = digest
                record.find(f"{{{ns}}}size").text = str(len(data))
        tree.write(self.repomd, xml_declaration=True, encoding="UTF-8")

    def corrupt_primary(self) -> None:
        """Change the primary file's bytes behind repomd.xml's back (its checksum no longer matches)."""
        path = self.primary()
        path.write_bytes(path.read_bytes()[:-8] + b"garbage!")


class RepoServer:
    """Serves a directory over HTTP on 127.0.0.1. ETag is the content's SHA-1, Last-Modified
    the file's mtime; If-None-Match (when sent, it decides, as RFC 9110 says) and
    If-Modified-Since get 304. `requests` lists (path, headers) of every request."""

    def __init__(self, root: Path, *, etags: bool = True):
        self.root, self.etags = root, etags
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append((self.path, dict(self.headers)))
                path = (server.root / self.path.lstrip("/")).resolve()
                if not path.is_file() or server.root.resolve() not in path.parents:
                    self.send_error(404)
                    return
                body = path.read_bytes()
                etag = f'"{hashlib.sha1(body).hexdigest()}"'  # noqa: S324 (a cache validator)
                mtime = int(path.stat().st_mtime)
                if server.etags and self.headers.get("If-None-Match"):
                    fresh = self.headers["If-None-Match"] == etag
                elif self.headers.get("If-Modified-Since"):
                    fresh = int(parsedate_to_datetime(self.headers["If-Modified-Since"]).timestamp()) >= mtime
                else:
                    fresh = False
                self.send_response(304 if fresh else 200)
                if server.etags:
                    self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(mtime, usegmt=True))
                if fresh:
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_for(self, suffix: str) -> list[dict]:
        return [headers for path, headers in self.requests if path.endswith(suffix)]
