#!/usr/bin/env python3
# tests/hooks/planjournal.sh's comparison: the steps of `vmprep plan --json`
# against the steps the hooks journalled (S lines) in ROOT/run/vmprep after
# a start, less the ones the journals held before it.
#   planjournal.py PLAN.json ROOT BEFORE-COUNTS
# BEFORE-COUNTS: "FILE N" lines, the S lines each journal had before the
# start.  Prints the two lists side by side on a difference, exit 1.
import json
import os
import sys


def unescape(v):
    if v == "-":
        return ""
    out = bytearray()
    i = 0
    while i < len(v):
        if v[i] == "%":
            out.append(int(v[i + 1:i + 3], 16))
            i += 3
        else:
            out += v[i].encode()
            i += 1
    return out.decode()


def journal_steps(root, before):
    d = os.path.join(root, "run/vmprep")
    steps = []
    if not os.path.isdir(d):
        return steps
    for f in sorted(os.listdir(d)):
        if not f.endswith(".journal"):
            continue
        n = 0
        with open(os.path.join(d, f)) as fh:
            for line in fh:
                w = line.split()
                if not w or w[0] != "S":
                    continue
                n += 1
                if n <= before.get(f, 0):
                    continue
                # S SEQ KIND RESOURCE PATH OLD NEW ~CHECKSUM
                steps.append((f[:-len(".journal")], w[2], unescape(w[3]), unescape(w[4]),
                              unescape(w[5]), unescape(w[6])))
    return steps


def main():
    plan = json.load(open(sys.argv[1]))
    root = sys.argv[2]
    before = {}
    for line in open(sys.argv[3]):
        if line.strip():
            f, n = line.split()
            before[f] = int(n)
    if "steps" not in plan:
        print("plan failed: %s" % plan.get("error"))
        return 1
    # a step at started names the VM's cgroup with ID for the domain id
    # libvirt gives it at start: the one the hooks were given (DOMID)
    domid = os.environ.get("DOMID", "")

    def path(s):
        p = s["path"]
        if s["phase"] == "started" and domid:
            p = p.replace("qemu\\x2dID\\x2d", "qemu\\x2d%s\\x2d" % domid).replace("qemu-ID-", "qemu-%s-" % domid)
        return p
    want = [(s["journal"], s["kind"], s["resource"], path(s), s["old"], s["new"])
            for s in plan["steps"] if s["kind"] != "keep"]
    # typed fields every step carries
    for s in plan["steps"]:
        for k in ("capability", "kind", "journal", "resource", "object", "path", "old", "new", "phase", "reason"):
            if k not in s:
                print("plan step without %s: %s" % (k, s))
                return 1
        if (s["kind"] == "add") != ("delta" in s):
            print("delta on a step that is not an add, or missing on one: %s" % s)
            return 1
    # across journals: the hooks' order (10-vmprep-vfio ... 40-vmprep-tune)
    order = ["vfio", "hugepages", "cpus", "tune"]
    caps = [order.index(s["capability"]) for s in plan["steps"]]
    if caps != sorted(caps):
        print("plan steps not in the hooks' order: %s" % [s["capability"] for s in plan["steps"]])
        return 1
    got = journal_steps(root, before)
    # the journal files' order is each file's own; the plan's order, seen
    # per journal, must be the same (a hook writes one journal at a time)
    ok = True
    for j in sorted(set(x[0] for x in want) | set(x[0] for x in got)):
        a = [x for x in want if x[0] == j]
        b = [x for x in got if x[0] == j]
        if a != b:
            ok = False
            print("journal %s:" % j)
            for i in range(max(len(a), len(b))):
                pa = " ".join(a[i][1:]) if i < len(a) else "(none)"
                pb = " ".join(b[i][1:]) if i < len(b) else "(none)"
                print("  %s plan:    %s\n    journal: %s" % ("==" if pa == pb else "!=", pa, pb))
    if not ok:
        return 1
    print("%d steps agree" % len(want))
    return 0


sys.exit(main())
