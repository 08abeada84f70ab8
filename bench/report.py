#!/usr/bin/env python3
"""Helpers of bench/run.sh and bench/soak.sh (no third-party modules).

  report.py pgbench-latency DIR          p50/p99/mean (µs) of pgbench -l per-transaction logs in DIR
  report.py table RUN_DIR                the results table of the runs listed in RUN_DIR/runs
  report.py gap RUN_DIR                  workflowd against the C libfcgi + libpq responder, run by run:
                                         req/s ratio and machine CPU per request (responder+nginx+pg)
  report.py pairs RUN_DIR                the same over both orders of each pair (BENCH_PAIRS=2): the ratio that counts
  report.py scale DIR                    bench/scale.sh's sizes side by side (DIR/SIZE/: runs, report.txt, NAME.result)
  report.py soak SAMPLES WARMUP_S TOL    RSS samples "<seconds> <kB>" per line: verdict, exit 1 if not flat
"""
import glob
import os
import sys


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def pgbench_latency(directory):
    values = []
    for path in glob.glob(os.path.join(directory, "log*")):
        with open(path) as f:
            for line in f:
                fields = line.split()
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag]
                if len(fields) >= 6 and fields[2].isdigit():
                    values.append(int(fields[2]))
    values.sort()
    mean = sum(values) / len(values) if values else 0
    print(f"p50_us={percentile(values, 50)}")
    print(f"p90_us={percentile(values, 90)}")
    print(f"p99_us={percentile(values, 99)}")
    print(f"mean_us={mean:.0f}")
    print(f"max_us={values[-1] if values else 0}")
    print(f"logged={len(values)}")


def read_kv(path):
    result = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    key, value = line.split("=", 1)
                    result[key] = value
    return result


def number(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def ms(us):
    value = number(us)
    return "-" if value is None else f"{value / 1000:.2f}"


TARGETS = {"fcgi-c": "C libfcgi", "fcgi-pg": "C libfcgi+libpq"}


def scenario_label(name, result):
    """A run's scenario, marked "(2nd)" for the second run of a pair in both orders (names ending in -2)."""
    return result.get("scenario", name) + (" (2nd)" if name.endswith("-2") else "")


def table(run_dir):
    names = [n.strip() for n in open(os.path.join(run_dir, "runs")) if n.strip()]
    runs = {name: read_kv(os.path.join(run_dir, "out", name, "result")) for name in names}

    def rps(name):
        return number(runs.get(name, {}).get("rps"))

    def ratio(name, ceiling_name, label):
        ours, theirs = rps(name), rps(ceiling_name)
        if ours is None or not theirs:
            return "-"
        return f"{ours / theirs:.2f}x {label}"

    header = ["scenario", "target", "conns", "req/s", "p50 ms", "p99 ms", "non-2xx",
              "vs ceiling", "vs C+pg", "wfd CPU us/req", "wfd peak RSS MiB", "nginx us/req", "pg us/req"]
    rows = []
    for name in names:
        r = runs[name]
        scenario, target, conns = scenario_label(name, r), r.get("target", "?"), r.get("conns", "?")
        if target == "workflowd":
            if scenario == "create":
                vs = ", ".join(x for x in (ratio(name, f"pgbench-create-naive-c{conns}", "naive"),
                                           ratio(name, f"pgbench-create-1stmt-c{conns}", "1-stmt")) if x != "-") or "-"
            else:
                vs = ratio(name, f"fcgi-c-c{conns}", "C fcgi")
        else:
            vs = "(ceiling)"
        vs_pg = "(ceiling)" if target == "fcgi-pg" else "-"
        if target == "workflowd" and f"cpg-{name}" in runs:
            vs_pg = ratio(name, f"cpg-{name}", "")
        non2xx = r.get("non2xx", "-")
        if r.get("codes", "-") not in ("-", ""):
            non2xx += f" ({r['codes']})"
        if r.get("socket_errors") and r["socket_errors"] != "connect:0,read:0,write:0,timeout:0":
            non2xx += f" sock[{r['socket_errors']}]"
        hwm = number(r.get("wfd_hwm_kb"))
        cpu = r.get("wfd_us_per_req", "-")
        if "ceiling_us_per_req" in r:
            cpu = f"(C) {r['ceiling_us_per_req']}"
        rows.append([
            scenario, TARGETS.get(target, target), conns,
            f"{number(r.get('rps'), 0):.0f}", ms(r.get("p50_us")), ms(r.get("p99_us")), non2xx, vs, vs_pg.strip(),
            cpu, "-" if hwm is None else f"{hwm / 1024:.1f}",
            r.get("nginx_us_per_req", "-"), r.get("pg_us_per_req", "-"),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    numeric = {2, 3, 4, 5, 9, 10, 11, 12}

    def fmt(row):
        cells = [str(c).rjust(w) if i in numeric else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "| " + " | ".join(cells) + " |"

    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt(row))


def print_table(header, rows):
    """A Markdown table: the first column left-aligned, the others (figures) right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(row):
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))) + " |"

    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt(row))


def gap(run_dir):
    """workflowd beside the C libfcgi + libpq responder of the run right after it."""
    names = [n.strip() for n in open(os.path.join(run_dir, "runs")) if n.strip()]
    runs = {name: read_kv(os.path.join(run_dir, "out", name, "result")) for name in names}

    def machine_us(r, responder_key):
        parts = [number(r.get(k)) for k in (responder_key, "nginx_us_per_req", "pg_us_per_req")]
        return None if None in parts else sum(parts)

    header = ["scenario", "conns", "wfd req/s", "C req/s", "wfd/C", "wfd us/req", "C us/req",
              "of them user space", "wfd+nginx+pg us/req", "C+nginx+pg us/req", "extra us/req"]
    rows = []
    for name in names:
        r, c = runs[name], runs.get(f"cpg-{name}")
        if r.get("target") != "workflowd" or not c:
            continue
        wfd_rps, c_rps = number(r.get("rps"), 0), number(c.get("rps"), 0)
        ours, theirs = machine_us(r, "wfd_us_per_req"), machine_us(c, "ceiling_us_per_req")
        rows.append([scenario_label(name, r), r.get("conns", "?"),
                     f"{wfd_rps:.0f}", f"{c_rps:.0f}",
                     f"{wfd_rps / c_rps:.2f}" if c_rps else "-", r.get("wfd_us_per_req", "-"),
                     c.get("ceiling_us_per_req", "-"),
                     f"{r.get('responder_user_us_per_req', '-')} / {c.get('responder_user_us_per_req', '-')}",
                     "-" if ours is None else f"{ours:.0f}",
                     "-" if theirs is None else f"{theirs:.0f}",
                     "-" if ours is None or theirs is None else f"{ours - theirs:+.0f}"])
    if not rows:
        print("(no runs of the C libfcgi + libpq responder)")
        return
    print_table(header, rows)


def scale(directory):
    sizes = sorted((int(d) for d in os.listdir(directory) if d.isdigit()), key=int)
    if not sizes:
        print("(no bench/scale.sh results)")
        return
    runs, reports = {}, {}
    for size in sizes:
        d = os.path.join(directory, str(size))
        names = [n.strip() for n in open(os.path.join(d, "runs")) if n.strip()]
        runs[size] = {n: read_kv(os.path.join(d, f"{n}.result")) for n in names}
        reports[size] = open(os.path.join(d, "report.txt")).read().splitlines()
    names_of = {10**4: "10 k", 10**5: "100 k", 10**6: "1 M", 10**7: "10 M"}
    label = {}
    for size in sizes:  # a seed stopped early (bench/scale.sh finish) is labelled by what it holds
        meta = dict(line.split("=", 1) for line in reports[size] if "=" in line)
        held = int(meta.get("instances", size))
        name = names_of.get(size, str(size))
        label[size] = name if held >= size else f"{held / 1e6:.1f} M (of {name})"
    names = list(runs[sizes[0]])
    header = ["scenario"] + [f"{label.get(s, s)} req/s" for s in sizes] + [f"{label.get(s, s)} p99 ms" for s in sizes] \
        + [f"{label.get(s, s)} wfd+pg us/req" for s in sizes]
    if len(sizes) > 1:
        header += [f"req/s {label.get(sizes[-1], sizes[-1])} vs {label.get(sizes[0], sizes[0])}",
                   f"p99 {label.get(sizes[-1], sizes[-1])} vs {label.get(sizes[0], sizes[0])}"]
    rows = []
    for name in names:
        row = [name]
        row += [f"{number(runs[s].get(name, {}).get('rps'), 0):.0f}" for s in sizes]
        row += [ms(runs[s].get(name, {}).get("p99_us")) for s in sizes]
        for s in sizes:
            r = runs[s].get(name, {})
            a, b = number(r.get("wfd_us_per_req")), number(r.get("pg_us_per_req"))
            row.append("-" if a is None or b is None else f"{a + b:.0f}")
        if len(sizes) > 1:
            first, last = runs[sizes[0]].get(name, {}), runs[sizes[-1]].get(name, {})
            for key in ("rps", "p99_us"):
                x, y = number(first.get(key)), number(last.get(key))
                row.append("-" if not x or y is None else f"{(y - x) / x * 100:+.0f} %")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(row):
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))) + " |"

    for size in sizes:
        meta = dict(line.split("=", 1) for line in reports[size] if "=" in line and not line.startswith("size "))
        loads = ", ".join(f"{n} {runs[size][n].get('loadavg', '?').split()[0]}" for n in runs[size])
        seeded = (f"seeded in {meta['seed_seconds']} s" if "seed_seconds" in meta
                  else f"seed stopped at {meta.get('seed_stopped_at')}")
        print(f"{label.get(size, size)}: {meta.get('instances')} instances of {meta.get('users')} users, {seeded}, vacuumed in {meta.get('vacuum_seconds')} s, measured {meta.get('measured')} "
              f"(commit {meta.get('commit')}, shared_buffers {meta.get('shared_buffers', '128MB')}); 1-min load average before each run: {loads}")
    print()
    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt(row))
    print()
    # sizes: "size RELATION BYTES TABLE" lines
    header = ["relation", "table"] + [f"{label.get(s, s)} MB per M instances" for s in sizes]
    table_rows = {}
    for size in sizes:
        meta = dict(line.split("=", 1) for line in reports[size] if "=" in line)
        held = int(meta.get("instances", size))  # what the table held when measured
        for line in reports[size]:
            if line.startswith("size "):
                _, rel, nbytes, table_name = line.split()
                key = (rel, "(table)" if table_name == "-" else table_name)
                table_rows.setdefault(key, {})[size] = int(nbytes) / 1048576 / (held / 1e6)
    rows = [[rel, t] + [f"{v.get(s, 0):.0f}" for s in sizes] for (rel, t), v in table_rows.items()]
    totals = ["total", ""] + [f"{sum(v.get(s, 0) for v in table_rows.values()):.0f}" for s in sizes]
    rows.append(totals)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt(row))


def soak(samples_path, warmup, tolerance):
    samples = []
    with open(samples_path) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 2:
                samples.append((int(fields[0]), int(fields[1])))
    for t, kb in samples:
        print(f"  t={t:4d}s  VmRSS={kb / 1024:8.1f} MiB")
    after = [(t, kb) for t, kb in samples if t >= warmup]
    if len(after) < 2:
        print(f"soak: too few samples after the {warmup}s warm-up to judge")
        return 1
    base = after[0][1]
    low, high = min(kb for _, kb in after), max(kb for _, kb in after)
    drift = (after[-1][1] - base) / base * 100
    spread = (high - low) / base * 100
    flat = high <= base * (1 + tolerance / 100) and low >= base * (1 - tolerance / 100)
    print(f"soak: after warm-up (t>={warmup}s) baseline {base / 1024:.1f} MiB, min {low / 1024:.1f}, "
          f"max {high / 1024:.1f} MiB (spread {spread:.1f} %, end vs baseline {drift:+.1f} %)")
    print(f"soak: RSS {'stayed flat' if flat else 'did NOT stay flat'} within {tolerance:g} % after warm-up")
    return 0 if flat else 1


def pairs(run_dir):
    """workflowd against the C libfcgi + libpq responder over both orders of a pair (BENCH_PAIRS=2)."""
    names = [n.strip() for n in open(os.path.join(run_dir, "runs")) if n.strip()]
    runs = {name: read_kv(os.path.join(run_dir, "out", name, "result")) for name in names}
    header = ["scenario", "conns", "wfd req/s (1st, 2nd)", "C req/s (1st, 2nd)", "wfd/C, wfd first",
              "wfd/C, C first", "wfd/C, both"]
    rows = []
    for name in names:
        first, second = runs[name], runs.get(f"{name}-2")
        c_first, c_second = runs.get(f"cpg-{name}"), runs.get(f"cpg-{name}-2")
        if first.get("target") != "workflowd" or not (second and c_first and c_second):
            continue
        w = [number(r.get("rps"), 0) for r in (first, second)]
        c = [number(r.get("rps"), 0) for r in (c_first, c_second)]
        if not all(c):
            continue
        rows.append([first.get("scenario", name), first.get("conns", "?"), f"{w[0]:.0f}, {w[1]:.0f}",
                     f"{c[0]:.0f}, {c[1]:.0f}", f"{w[0] / c[0]:.2f}", f"{w[1] / c[1]:.2f}", f"{sum(w) / sum(c):.2f}"])
    if not rows:
        print("(no pairs run in both orders: BENCH_PAIRS=1)")
        return
    print_table(header, rows)


def main(argv):
    if len(argv) >= 3 and argv[1] == "pgbench-latency":
        pgbench_latency(argv[2])
    elif len(argv) >= 3 and argv[1] == "table":
        table(argv[2])
    elif len(argv) >= 3 and argv[1] == "scale":
        scale(argv[2])
    elif len(argv) >= 3 and argv[1] == "gap":
        gap(argv[2])
    elif len(argv) >= 3 and argv[1] == "pairs":
        pairs(argv[2])
    elif len(argv) >= 5 and argv[1] == "soak":
        return soak(argv[2], int(argv[3]), float(argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
