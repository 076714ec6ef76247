"""``tessera cache``: where the build cache is, how big, and ``--clear`` to empty it.

The cache (generated Verilog, simulator builds, synthesis results, trained float models) is one
per user: ``$TESSERA_BUILD_DIR``, else ``$XDG_CACHE_HOME/tessera``, else ``~/.cache/tessera``
(:mod:`tessera.sim.cache`). ``--clear`` removes every entry no other process is using and says
how many were busy.
"""

HELP = "show where the build cache is and its size; --clear empties it"


def add_arguments(parser):
    parser.add_argument("--clear", action="store_true",
                        help="remove every cache entry that no running tessera is using")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def run(args):
    import json

    from tessera.sim import cache

    root = cache.cache_root()
    before = cache.usage(root)
    summary = {"path": str(root),
               "bytes": sum(size for _, size in before.values()),
               "kinds": {kind: {"entries": n, "bytes": size} for kind, (n, size) in before.items()}}
    if args.clear:
        removed, busy = cache.clear(root)
        after = cache.usage(root)
        summary.update(removed=removed, busy=busy,
                       bytes_after=sum(size for _, size in after.values()))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"tessera cache: {root}" + ("" if root.exists() else " (not created yet)"))
    for kind, (entries, size) in before.items():
        print(f"  {kind:<8} {entries:>5} entries  {_size(size):>10}")
    print(f"  {'total':<8} {'':>13}  {_size(summary['bytes']):>10}")
    if args.clear:
        print(f"cleared: {summary['removed']} entries removed, {_size(summary['bytes_after'])} "
              f"left" + (f" ({summary['busy']} in use by running processes, kept)"
                         if summary["busy"] else ""))
    return 0
