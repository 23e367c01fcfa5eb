"""What `status`, `doctor` and the dashboard say about the reliable copy; never pretend."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..config import Config
from ..store import Store

FOLDERS = ("inbox", "spool", "work", "library", "quarantine", "archive", "proofs")


def disk_usage(config: Config) -> dict[str, dict[str, int]]:
    """Bytes and files per folder of the home (library: the local publish target)."""
    usage = {}
    for name in FOLDERS:
        root = config.library_dir if name == "library" else config.home / name
        size = files = 0
        for folder, _, names in os.walk(root):
            for file_name in names:
                try:
                    size += (Path(folder) / file_name).stat().st_size
                    files += 1
                except OSError:
                    continue
        usage[name] = {"bytes": size, "files": files}
    return usage


def tsa_state(config: Config) -> str:
    trace = config.trace
    if not trace.enabled:
        return "reliable copy disabled ([trace] enabled = false): published letters are not timestamped"
    if not trace.tsa_url:
        return "no time-stamping authority configured ([trace] tsa_url): published letters are not timestamped"
    anchor = f"tokens checked against {trace.tsa_ca_file}" if trace.tsa_ca_file else \
        "tokens NOT checked against a trusted certificate ([trace] tsa_ca_file is empty)"
    return f"time-stamping authority {trace.tsa_url}; {anchor}"


def trace_status(config: Config, store: Store, disk: bool = True) -> dict:
    from .stamp import pending_timestamps

    verified = store.last_event("verified")
    sealed = store.last_event("sealed")
    checks = store.checks()
    return {
        "enabled": config.trace.enabled,
        "tsa": tsa_state(config),
        "timestamps_pending": len(pending_timestamps(config, store)),
        "last_verify": {"at": verified.at, "documents": verified.details.get("documents"),
                        "problems": verified.details.get("problems")} if verified else None,
        "documents_with_problems": sorted(doc_id for doc_id, check in checks.items() if not check["ok"]),
        "last_seal": {"at": sealed.at, "head_id": sealed.details.get("head_id")} if sealed else None,
        "timestamps": config.trace.timestamps,
        "disk": disk_usage(config) if disk else None,
    }


def status_lines(data: dict) -> list[str]:
    lines = [f"Timestamps: {data['tsa']}"]
    if data["timestamps_pending"]:
        lines.append(f"  {data['timestamps_pending']} published letter(s) waiting for their timestamp")
    check = data["last_verify"]
    lines.append(f"Last verify: {check['at']}, {check['documents']} document(s), {check['problems']} problem(s)"
                 if check else "Last verify: never (run: mailroom verify)")
    if data["documents_with_problems"]:
        lines.append("  problems: " + ", ".join(data["documents_with_problems"]) + " (run: mailroom verify)")
    seal = data["last_seal"]
    lines.append(f"Last seal: {seal['at']} (event {seal['head_id']})" if seal else "Last seal: none yet")
    lines.append("Disk: " + ", ".join(f"{name} {usage['bytes'] / 1e6:.1f} MB ({usage['files']} files)"
                                      for name, usage in data["disk"].items()))
    return lines


def doctor_check(config: Config) -> tuple[bool, str, str]:
    """Asks the TSA for a real token when one is configured."""
    if not config.trace.timestamps:
        return (not config.trace.enabled, f"timestamps: {tsa_state(config)}",
                "set [trace] tsa_url (and tsa_ca_file) to a time-stamping authority")
    from ..errors import TimestampError
    from .tsa import request_token

    with tempfile.TemporaryDirectory() as scratch:
        try:
            token = request_token(config.trace, b"mailroom doctor", Path(scratch) / "doctor.tsr")
        except TimestampError as error:
            return False, f"time-stamping authority {config.trace.tsa_url}: {error}", \
                "check [trace] tsa_url, tsa_ca_file and the network"
    return (bool(config.trace.tsa_ca_file), f"{tsa_state(config)} (test token {token.serial} at {token.time})",
            "set [trace] tsa_ca_file to the TSA's root certificate")
