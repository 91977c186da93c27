"""Reading a yum repository's metadata over HTTP: no database here.

1. `fetch_repomd()` GETs `repodata/repomd.xml` with the validators of the last complete read
   (If-None-Match / If-Modified-Since); a 304 returns None.
2. `parse_repomd()` finds the `primary` record: its location and checksum.
3. `fetch_primary()` downloads that file (size and time bounded) into a spooled temporary
   file while hashing it, and refuses it unless the digest matches repomd's.
4. `iter_packages()` decompresses it by its magic bytes (gzip, xz, zstd, bzip2 or plain XML),
   bounded in size, and walks it with defusedxml's iterparse, one <package> at a time,
   clearing each element so memory stays flat on a distribution-sized primary.

Every failure is a `RepositoryError` whose message names the URL and what went wrong; the
caller prefixes the repository's name.
"""

import bz2
import gzip
import hashlib
import io
import lzma
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin
from xml.etree.ElementTree import ParseError

import requests
import zstandard
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

from orbiter.common.errors import OrbiterError

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

MAX_REPOMD_BYTES = 4 * 1024 * 1024
CHUNK = 64 * 1024
# repomd's names for its digests -> hashlib's. "sha" is SHA-1 in old createrepo output.
DIGESTS = {"sha": "sha1", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
           "sha512": "sha512"}
SOURCE_ARCHES = frozenset({"src", "nosrc"})


class RepositoryError(OrbiterError):
    """The repository could not be read; the message says where and why."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 30.0  # connect and each read; also the whole repomd.xml download
    download_timeout_s: float = 600.0  # the whole primary download
    max_download_bytes: int = 256 * 1024 * 1024  # compressed primary
    max_xml_bytes: int = 2 * 1024 * 1024 * 1024  # decompressed primary


@dataclass(frozen=True)
class Repomd:
    etag: str
    last_modified: str
    primary_href: str
    primary_url: str
    checksum_type: str  # hashlib name
    checksum: str  # hex


@dataclass(frozen=True)
class Package:
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    checksum: str  # "sha256:<hex>"
    url: str  # where the RPM is

    @property
    def nevra(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"


def session() -> requests.Session:
    s = requests.Session()
    s.max_redirects = 5
    s.headers["User-Agent"] = "orbiter-yum-watcher"
    return s


def fetch_repomd(http: requests.Session, base_url: str, *, etag: str = "", last_modified: str = "",
                 limits: Limits = Limits()) -> Repomd | None:
    """GET repodata/repomd.xml conditionally; None when the server says 304 Not Modified."""
    url = urljoin(base_url, "repodata/repomd.xml")
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with _get(http, url, headers, limits) as response:
        if response.status_code == 304:
            return None
        body = io.BytesIO()
        _copy(response, body, url, max_bytes=MAX_REPOMD_BYTES, deadline=time.monotonic() + limits.timeout_s,
              limits=limits)
        return parse_repomd(body.getvalue(), url=url, etag=response.headers.get("ETag", ""),
                            last_modified=response.headers.get("Last-Modified", ""))


def parse_repomd(data: bytes, *, url: str, etag: str = "", last_modified: str = "") -> Repomd:
    try:
        root = fromstring(data)
    except (ParseError, DefusedXmlException) as error:
        raise RepositoryError(f"{url}: not valid repomd XML ({error})") from None
    for record in root.iter(f"{REPO_NS}data"):
        if record.get("type") != "primary":
            continue
        location = record.find(f"{REPO_NS}location")
        checksum = record.find(f"{REPO_NS}checksum")
        href = location.get("href", "") if location is not None else ""
        if not href:
            raise RepositoryError(f"{url}: the primary record has no location")
        if checksum is None or not (checksum.text or "").strip():
            raise RepositoryError(f"{url}: the primary record has no checksum")
        kind = checksum.get("type", "")
        if kind not in DIGESTS:
            raise RepositoryError(
                f"{url}: primary checksum type {kind!r} is not supported; supported: {', '.join(sorted(DIGESTS))}"
            )
        base = location.get(XML_BASE) or urljoin(url, "..")
        return Repomd(etag=etag, last_modified=last_modified, primary_href=href, primary_url=urljoin(base, href),
                      checksum_type=DIGESTS[kind], checksum=checksum.text.strip().lower())
    raise RepositoryError(f"{url}: no primary metadata listed")


def fetch_primary(http: requests.Session, repomd: Repomd, *, limits: Limits = Limits()):
    """The primary file, downloaded and checked against repomd's digest: a file object at 0."""
    url = repomd.primary_url
    # identity: the digest is of the file as stored, not of a re-encoding on the way.
    with _get(http, url, {"Accept-Encoding": "identity"}, limits) as response:
        if response.status_code != 200:
            raise RepositoryError(f"GET {url}: HTTP {response.status_code}")
        spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
        digest = hashlib.new(repomd.checksum_type)
        _copy(response, spool, url, max_bytes=limits.max_download_bytes,
              deadline=time.monotonic() + limits.download_timeout_s, limits=limits, digest=digest)
    if digest.hexdigest() != repomd.checksum:
        spool.close()
        raise RepositoryError(
            f"{url}: checksum mismatch: repomd.xml says {repomd.checksum_type} {repomd.checksum}, "
            f"the file has {digest.hexdigest()} (repository being rewritten, or a corrupt mirror)"
        )
    spool.seek(0)
    return spool


def iter_packages(raw, *, url: str, base_url: str, names: set[str] | None = None,
                  limits: Limits = Limits()) -> Iterator[Package]:
    """Binary packages in a primary file (compressed or not); only `names` when given."""
    stream = _Bounded(_decompressed(raw, url), limits.max_xml_bytes, url)
    try:
        context = iterparse(stream, events=("end",))
        for _, element in context:
            if element.tag != f"{COMMON_NS}package":
                continue
            try:
                package = _package(element, base_url, names)
            finally:
                element.clear()
            if package is not None:
                yield package
    except (ParseError, DefusedXmlException, EOFError, OSError, lzma.LZMAError, zstandard.ZstdError) as error:
        raise RepositoryError(f"{url}: cannot read the primary metadata ({error})") from None


def _package(element, base_url: str, names: set[str] | None) -> Package | None:
    if element.get("type") != "rpm":
        return None
    name = element.findtext(f"{COMMON_NS}name", "")
    arch = element.findtext(f"{COMMON_NS}arch", "")
    if (names is not None and name not in names) or arch in SOURCE_ARCHES:
        return None
    version = element.find(f"{COMMON_NS}version")
    checksum = element.find(f"{COMMON_NS}checksum")
    location = element.find(f"{COMMON_NS}location")
    if version is None or location is None:
        return None
    epoch = version.get("epoch") or "0"
    digest = ""
    if checksum is not None and checksum.get("type") in DIGESTS and checksum.text:
        digest = f"{DIGESTS[checksum.get('type')]}:{checksum.text.strip().lower()}"
    href = location.get("href", "")
    return Package(
        name=name, epoch=int(epoch) if epoch.isdigit() else -1, version=version.get("ver", ""),
        release=version.get("rel", ""), arch=arch, checksum=digest,
        url=urljoin(location.get(XML_BASE) or base_url, href),
    )


# --- transport ------------------------------------------------------------------------------


def _get(http: requests.Session, url: str, headers: dict, limits: Limits) -> requests.Response:
    try:
        response = http.get(url, headers=headers, stream=True, timeout=(limits.timeout_s, limits.timeout_s))
    except requests.Timeout:
        raise RepositoryError(f"GET {url}: no answer within {limits.timeout_s:g}s") from None
    except requests.RequestException as error:
        raise RepositoryError(f"GET {url}: {_reason(error)}") from None
    if response.status_code not in (200, 304):
        response.close()
        raise RepositoryError(f"GET {url}: HTTP {response.status_code} {response.reason or ''}".rstrip())
    return response


def _copy(response: requests.Response, out, url: str, *, max_bytes: int, deadline: float, limits: Limits,
          digest=None) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise RepositoryError(f"GET {url}: {int(declared)} bytes is over the limit of {max_bytes}")
    total = 0
    try:
        for chunk in response.iter_content(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise RepositoryError(f"GET {url}: more than the limit of {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise RepositoryError(f"GET {url}: download not finished within its time limit")
            if digest is not None:
                digest.update(chunk)
            out.write(chunk)
    except requests.RequestException as error:
        raise RepositoryError(f"GET {url}: {_reason(error)}") from None


def _reason(error: requests.RequestException) -> str:
    """The innermost cause: 'Connection refused' rather than urllib3's retry wrapper."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    text = str(cause) or type(cause).__name__
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(error, requests.ConnectionError):
        return f"cannot connect ({text})"
    return text


# --- decompression --------------------------------------------------------------------------


def _decompressed(raw, url: str):
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, mode="rb")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw, mode="rb")
    if head.lstrip().startswith(b"<"):
        return raw
    raise RepositoryError(f"{url}: unknown compression (first bytes {head.hex()}); "
                          "supported: gzip, xz, zstd, bzip2, plain XML")


class _Bounded(io.RawIOBase):
    """Reads through, refusing past `limit` bytes: a small file must not inflate to fill the disk."""

    def __init__(self, inner, limit: int, url: str):
        self.inner, self.limit, self.url, self.total = inner, limit, url, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size if size and size > 0 else CHUNK)
        self.total += len(data)
        if self.total > self.limit:
            raise RepositoryError(f"{self.url}: primary metadata larger than the limit of {self.limit} bytes")
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
