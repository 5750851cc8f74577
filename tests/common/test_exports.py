#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""libhugelink.so exports its documented API and nothing else.

usage: test_exports.py LIBHUGELINK_SO SOURCE_ROOT

The API is what include/hugelink/ declares (scripts/build/api_symbols.py reads
it); every declaration there carries a comment. The shared library must
export exactly those symbols: an internal function that leaks out, or an API
function that is declared but missing, fails. An example program built
against the shared library alone proves a user needs nothing more.
"""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from hltap import Tap  # noqa: E402

so, root = sys.argv[1], sys.argv[2]
headers = sorted(glob.glob(os.path.join(root, "include", "hugelink", "*.h")))
script = os.path.join(root, "scripts", "build", "api_symbols.py")
t = Tap(7)

api = subprocess.run([sys.executable, script, "--list", *headers], capture_output=True, text=True)
api_set = set(api.stdout.split())
t.check(api.returncode == 0 and len(api_set) > 100, "the public headers declare the API",
        f"{len(api_set)} symbols; {api.stderr.strip()}")

nm = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True)
exported = set()
for line in nm.stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[1] in "TDBRVW":
        exported.add(f[2].split("@")[0])
exported.discard("HUGELINK_0")
t.check(nm.returncode == 0 and exported, "nm reads the shared library's dynamic symbols", nm.stderr.strip())

leaked = sorted(exported - api_set)
t.check(not leaked, "nothing is exported that the public headers do not declare",
        f"{len(leaked)}: {' '.join(leaked[:20])}")
missing = sorted(api_set - exported)
t.check(not missing, "everything the public headers declare is exported (defined)",
        f"{len(missing)}: {' '.join(missing[:20])}")
internals = ["hl_vhost_zc_drain", "hl_vhost_copy_chain", "hl__tsc_mult", "hl_shm_test_hook", "hl_jw_kv_u64"]
t.check(not (set(internals) & exported), "known internal functions and state are not exported",
        " ".join(sorted(set(internals) & exported)))

undoc = subprocess.run([sys.executable, script, "--undocumented", *headers], capture_output=True, text=True)
t.check(undoc.returncode == 0 and not undoc.stdout.strip(), "every API declaration has a comment",
        undoc.stdout.strip().replace("\n", "; ")[:600])

with tempfile.TemporaryDirectory() as d:
    exe = os.path.join(d, "pool-demo")
    cc = subprocess.run([os.environ.get("CC", "cc"), "-std=gnu11", "-D_GNU_SOURCE", "-I", os.path.join(root, "include"),
                         os.path.join(root, "examples", "pool_demo.c"), "-o", exe, so, "-lpthread"],
                        capture_output=True, text=True)
    t.check(cc.returncode == 0, "an example program links against the shared library's exports alone",
            cc.stderr.strip()[-600:])
sys.exit(t.exit_code())
