"""A throw-away local Orthanc PACS for tests, benchmarks and trying the DICOMweb round trip.

Needs the Debian packages ``orthanc`` and ``orthanc-dicomweb`` (``apt-get install -y orthanc
orthanc-dicomweb``). :func:`local_orthanc` starts the server on a free loopback port with its
storage in a given folder, yields the DICOMweb root, and stops it.
"""

from __future__ import annotations

import glob
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from radiopredict.errors import MissingDependencyError

__all__ = ["orthanc_binary", "dicomweb_plugin", "local_orthanc"]


def orthanc_binary() -> str | None:
    """Path of the Orthanc server binary, or ``None``."""
    found = shutil.which("Orthanc")
    if found is None and Path("/usr/sbin/Orthanc").exists():
        found = "/usr/sbin/Orthanc"
    return found


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin of the Debian package ``orthanc-dicomweb``, or ``None``."""
    for pattern in (
        "/usr/share/orthanc/plugins/libOrthancDicomWeb.so*",
        "/usr/lib/orthanc/libOrthancDicomWeb.so*",
    ):
        hits = sorted(glob.glob(pattern))
        if hits:
            return Path(hits[0])
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, timeout=30
        ).stdout
    except OSError:
        return None
    hits = [ln for ln in listing.splitlines() if "libOrthancDicomWeb.so" in ln]
    return Path(hits[0]) if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_orthanc(folder: str | Path, *, start_timeout: float = 30.0) -> Iterator[str]:
    """Run Orthanc with the DICOMweb plugin on a free loopback port.

    Parameters
    ----------
    folder
        Storage, configuration (``orthanc.json``) and log (``orthanc.log``) of the server.
    start_timeout
        Seconds to wait for the server to answer.

    Yields
    ------
    str
        The DICOMweb root, ``http://127.0.0.1:<port>/dicom-web``.

    Raises
    ------
    MissingDependencyError
        Orthanc or its DICOMweb plugin is not installed.
    RuntimeError
        The server did not start (the message ends with its log).
    """
    binary, plugin = orthanc_binary(), dicomweb_plugin()
    if binary is None or plugin is None:
        raise MissingDependencyError(
            "the Orthanc server or its DICOMweb plugin is not installed",
            fix="apt-get install -y orthanc orthanc-dicomweb (Debian / Ubuntu)",
        )
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = {
        "Name": "radiopredict-local",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "DicomPort": _free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (root / "orthanc.json").write_text(json.dumps(config, indent=1))
    base = f"http://127.0.0.1:{port}"
    with open(root / "orthanc.log", "w") as log:
        proc = subprocess.Popen([binary, str(root / "orthanc.json")], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/dicom-web/studies", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        tail = (root / "orthanc.log").read_text()[-2000:]
                        raise RuntimeError(f"Orthanc did not start:\n{tail}") from None
                    time.sleep(0.2)
            yield f"{base}/dicom-web"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
