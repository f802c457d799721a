#!/usr/bin/env python3
"""The report of `instructions.sh` (which runs this with its settings in the environment): reads
the runs' counts ($OUT/rows) and callgrind dumps ($OUT/cg.SERVER.WORKLOAD.PART-THREAD) and prints
the markdown tables."""

import glob
import os
import re

OUT = os.environ["OUT"]
TOP = int(os.environ.get("TOP", "5"))
SECS = int(os.environ.get("SECS", "3"))

WORKLOADS = {
    "echo-1k-50": "echo 1 KiB x50",
    "echo-1k-500": "echo 1 KiB x500",
    "echo-16k-50": "echo 16 KiB x50",
    "http": "http wrk c=50",
}
# The suite's labels (src/main.rs, SERVERS), so rows read the same in both reports.
LABELS = {
    "raw": "raw io_uring loop",
    "coring": "coring (default: read/write_all)",
    "tokio": "tokio current-thread",
    "tokio-mt": "tokio multi-thread, 1 worker",
    "monoio": "monoio",
    "compio": "compio",
    "glommio": "glommio",
    "tokio-uring": "tokio-uring",
    "coring-ring": "coring variant (opt-in): BufRing recv_stream",
    "coring-batch": "coring variant (opt-in): BufRing + completion_batch",
    "coring-pool": "coring BufReader (no set-up: runtime read pool)",
    "raw-direct": "raw io_uring loop variant: direct descriptors",
}


def parse(path):
    """(total instructions, {function: self instructions}) of one callgrind dump."""
    names, costs, total = {}, {}, 0
    fn, after_calls = None, False
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                total = int(line.split()[1])
            elif line.startswith(("fn=", "cfn=")):
                # A name is given once, at its first use in either kind of line, then its id.
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                if line.startswith("fn="):
                    fn = names.get(m.group(1), m.group(1))
            elif line.startswith("calls="):
                after_calls = True
                continue
            elif line[:1].isdigit() or line[:1] in "+-*":
                # The line after `calls=` is the call's inclusive cost, not the caller's own.
                if not after_calls and fn is not None:
                    parts = line.split()
                    if len(parts) > 1:
                        costs[fn] = costs.get(fn, 0) + int(parts[1])
            after_calls = False
    return total, costs


def per_request(waits, requests, window_s):
    """Waits per request: perf's count (SUM, NS) scaled from the time it counted to the window
    the requests were counted in (perf takes up to a second to attach)."""
    count, ns = waits
    if ns <= 0 or requests <= 0:
        return None
    return count * window_s * 1e9 / ns / requests


def part(server, workload, n):
    """Per-thread (total, costs) of dump `n` of one run, threads in order."""
    files = sorted(glob.glob(f"{OUT}/cg.{server}.{workload}.{n}-*"))
    return [parse(p) for p in files]


def matching(s, i):
    """The index of the `>` that closes the `<` at `s[i]`."""
    depth = 0
    for j in range(i, len(s)):
        depth += (s[j] == "<") - (s[j] == ">")
        if depth == 0:
            return j
    return len(s) - 1


def short(name):
    """A Rust symbol cut to its crate and last two path segments, without generics."""
    if name.startswith("<"):
        # `<Type as Trait>::method`: the type, or the trait where the type is a parameter.
        j = matching(name, 0)
        inner, rest = name[1:j], name[j + 1:]
        depth = 0
        for i, c in enumerate(inner):
            depth += (c == "<") - (c == ">")
            if depth == 0 and inner.startswith(" as ", i):
                ty, trait = inner[:i], inner[i + 4:]
                inner = trait if "::" not in ty and len(ty) <= 2 else ty
                break
        name = inner + rest
    # `<impl Type>` (a method of an inherent impl written in another module) names its type.
    while (i := name.find("<impl ")) >= 0:
        j = matching(name, i)
        ty = re.sub(r"<.*", "", name[i + 6:j]).split("::")[-1]
        name = name[:i] + ty + name[j + 1:]
    while True:
        stripped = re.sub(r"<[^<>]*>", "", name)
        if stripped == name:
            break
        name = stripped
    segs = [s for s in name.split("::") if s]
    if len(segs) > 3:
        segs = [segs[0], "…"] + segs[-2:]
    return "::".join(segs).replace("|", "\\|")


def main():
    runs = {}
    order = []
    with open(f"{OUT}/rows") as f:
        for line in f:
            w, s, mode, *nums = line.split()
            runs[(w, s, mode)] = [int(x) if ":" not in x else tuple(int(float(v)) for v in x.split(":"))
                                  for x in nums]
            if (w, s) not in order:
                order.append((w, s))
    results = {}
    for w, s in order:
        counts = runs.get((w, s, "callgrind"))
        if counts is None:
            continue
        if w == "http":
            n1, w1, n2, w2 = counts
            a, b = part(s, w, 1), part(s, w, 2)
            requests = n2 - n1
            instr = sum(t for t, _ in b) - sum(t for t, _ in a)
            threads = [tb - ta for (tb, _), (ta, _) in zip(b, a)]
            fns = {}
            for _, costs in b:
                for k, v in costs.items():
                    fns[k] = fns.get(k, 0) + v
            for _, costs in a:
                for k, v in costs.items():
                    fns[k] = fns.get(k, 0) - v
            waits = per_request(w2, n2, SECS + 1)
        else:
            requests, w1 = counts
            waits = per_request(w1, requests, SECS)
            a = part(s, w, 1)
            instr = sum(t for t, _ in a)
            threads = [t for t, _ in a]
            fns = {}
            for _, costs in a:
                for k, v in costs.items():
                    fns[k] = fns.get(k, 0) + v
        native = runs.get((w, s, "native"))
        if native is None:
            native_waits = None
        elif w == "http":
            native_waits = per_request(native[3], native[2], SECS + 1)
        else:
            native_waits = per_request(native[1], native[0], SECS)
        # (HTTP's difference of two runs can leave a rounding's worth below zero.)
        mem = max(0, sum(v for k, v in fns.items() if re.search(r"mem(cpy|move|set)", k)))
        results[(w, s)] = dict(
            per_req=instr / max(requests, 1),
            mem_per_req=mem / max(requests, 1),
            requests=requests,
            threads=threads,
            fns=sorted(fns.items(), key=lambda kv: -kv[1])[:TOP],
            instr=instr,
            waits=waits,
            native_waits=native_waits,
        )

    took = int(os.environ.get("TOOK", "0"))
    print(
        f"User-space instructions per request (callgrind, {os.environ.get('SECS')} s windows, "
        f"one run of each), coring {os.environ.get('COMMIT')}, kernel {os.environ.get('KERNEL')}, "
        f"{os.environ.get('RUSTC')}, {os.environ.get('VALGRIND')}; load average "
        f"{os.environ.get('LOAD')} (before / after); took {took} s.\n"
    )
    print(
        "Instructions are counted in the server's process only (all its threads: the threads "
        "column says how many ran in the window, of how many, and the busiest one's share), in "
        "user space only: the kernel's work is not in them. io_uring_enter per request (tokio: "
        "epoll_wait) is counted by perf under callgrind and in a native run of the same load. "
        "\"of which mem*\": in memcpy, memmove and memset, where callgrind counts a `rep movsb` "
        "(glibc's copy above about 2 KiB) as one instruction per byte.\n"
    )
    print(
        "| workload | server | instructions/request | vs raw | vs coring | of which mem* | "
        "threads that ran (busiest's share) | requests counted | io_uring_enter/req under "
        "callgrind | io_uring_enter/req native |"
    )
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for w, s in order:
        r = results.get((w, s))
        if r is None:
            continue

        def vs(ref):
            other = results.get((w, ref))
            return f"{r['per_req'] / other['per_req']:.2f}×" if other else "–"

        ran = [t for t in r["threads"] if t > 0]
        share = max(ran) / max(sum(ran), 1) if ran else 0
        nw = "–" if r["native_waits"] is None else f"{r['native_waits']:.3f}"
        cw = "–" if r["waits"] is None else f"{r['waits']:.3f}"
        print(
            f"| {WORKLOADS[w]} | {LABELS.get(s, s)} | {r['per_req']:,.0f} | {vs('raw')} | "
            f"{vs('coring')} | {r['mem_per_req']:,.0f} | {len(ran)} of {len(r['threads'])} ({share:.0%}) | "
            f"{r['requests']} | {cw} | {nw} |"
        )
    if TOP > 0:
        print(
            f"\nTop {TOP} functions by their own instructions (share of the window's instructions; "
            "names cut to crate and last two path segments, generics dropped)\n"
        )
        print("| workload | server | functions |")
        print("|---|---|---|")
        for w, s in order:
            r = results.get((w, s))
            if r is None:
                continue
            cell = "; ".join(
                f"{v / max(r['instr'], 1):.1%} `{short(k)}`" for k, v in r["fns"]
            )
            print(f"| {WORKLOADS[w]} | {LABELS.get(s, s)} | {cell} |")


if __name__ == "__main__":
    main()
