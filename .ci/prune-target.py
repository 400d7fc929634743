#!/usr/bin/env python3
"""Frees disk in a warm cargo target dir before CI builds in it.

Every rebuild of a workspace crate or test binary leaves the previous one behind under a new
hash (`target/debug/deps/NAME-HASH`); on a machine that iterates all day they add up to tens
of GB and once filled the disk mid-link. Cargo has no command that drops only stale outputs
(`cargo clean` drops everything, a 15-minute cold build on 2 cores), so this keeps the newest
output per name and extension for the workspace's own crates and test binaries, and drops
the incremental caches. Third-party outputs are left alone: several versions of one crate
can be live at once. Anything removed by mistake is rebuilt by cargo, never used stale.

Usage: prune-target.py TARGET_DIR
"""
import os
import re
import shutil
import sys
from collections import defaultdict

HASHED = re.compile(r"^(.*)-([0-9a-f]{16})(\..*)?$")


def workspace_output(base: str, ext: str, path: str) -> bool:
    if base.startswith(("snni", "libsnni")):
        return True
    # Integration-test binaries are named after their file and carry no extension.
    return ext == "" and os.path.isfile(path) and os.access(path, os.X_OK) and not base.startswith("lib")


def prune(target: str) -> int:
    freed = 0
    for profile in ("debug", "release"):
        deps = os.path.join(target, profile, "deps")
        if not os.path.isdir(deps):
            continue
        groups = defaultdict(list)
        for name in os.listdir(deps):
            path = os.path.join(deps, name)
            if ".tmp" in name:  # a link that died half-way
                freed += os.path.getsize(path)
                os.remove(path)
                continue
            m = HASHED.match(name)
            if not m:
                continue
            base, ext = m.group(1), m.group(3) or ""
            if workspace_output(base, ext, path):
                groups[(base, ext)].append((os.path.getmtime(path), path))
        for outputs in groups.values():
            outputs.sort()
            for _, path in outputs[:-1]:
                freed += os.path.getsize(path)
                os.remove(path)
        incremental = os.path.join(target, profile, "incremental")
        if os.path.isdir(incremental):
            for root, _, files in os.walk(incremental):
                freed += sum(os.path.getsize(os.path.join(root, f)) for f in files)
            shutil.rmtree(incremental)
    return freed


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"pruned {prune(sys.argv[1]) / 2**30:.1f} GiB of stale build outputs")
