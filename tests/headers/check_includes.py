#!/usr/bin/env python3
"""Each public header that names a third-party namespace must include (directly or through the
tpt headers it includes) a header of that library. The compile check shares a precompiled
<torch/torch.h>, which would hide a missing LibTorch include; this closes that gap."""
import pathlib
import re
import sys

# namespace use -> include prefixes that provide it
RULES = {
    r"\b(torch|at|c10)::": ("torch/", "ATen/", "c10/"),
    r"\bfmt::": ("fmt/",),
    r"(?<!std::)\branges::": ("range/v3/",),  # range-v3's namespace; std::ranges is the standard's
    r"\bnlohmann::": ("nlohmann/",),
    r"\bsimdjson::": ("simdjson.h",),
    r"\btj(Init|Decompress|Compress|Destroy)": ("turbojpeg.h",),
    r"\bpng_": ("png.h",),
    r"\bio::(CSVReader|LineReader|trim_chars|double_quote_escape)": ("csv.h",),
    # The standard library: the precompiled header the compile check shares holds many of these,
    # and <torch/torch.h> pulls in some but not <filesystem> or <random>, so a header could use
    # one without including it and still pass.
    r"\bstd::filesystem::": ("filesystem",),
    r"\bstd::(mt19937|random_device|uniform_(int|real)_distribution|normal_distribution)": ("random",),
    r"\bstd::(optional|nullopt)\b": ("optional",),
    r"\bstd::(variant|visit|holds_alternative|get_if|monostate)\b": ("variant",),
    r"\bstd::unordered_map\b": ("unordered_map",),
    r"\bstd::unordered_set\b": ("unordered_set",),
    r"\bstd::(multi)?map\b": ("map",),
    r"\bstd::(multi)?set\b": ("set",),
    r"\bstd::deque\b": ("deque",),
    r"\bstd::span\b": ("span",),
    r"\bstd::(ranges|views)::": ("algorithm", "ranges"),
    r"\bstd::string_view\b": ("string_view",),
    r"\bstd::(thread|jthread)\b": ("thread",),
    r"\bstd::(mutex|lock_guard|unique_lock|scoped_lock)\b": ("mutex",),
    r"\bstd::condition_variable\b": ("condition_variable",),
    r"\bstd::atomic\b": ("atomic",),
    r"\bstd::function\b": ("functional",),
    r"\bstd::(unique_ptr|shared_ptr|make_shared|make_unique|weak_ptr)\b": ("memory",),
    r"\bstd::chrono::": ("chrono",),
    r"\bstd::(array)\b": ("array",),
    r"\bstd::(ifstream|ofstream|fstream)\b": ("fstream",),
    r"\bstd::(ostringstream|istringstream|stringstream)\b": ("sstream",),
    r"\bstd::(numeric_limits)\b": ("limits",),
    r"\bstd::(exception_ptr|current_exception|rethrow_exception)\b": ("exception",),
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def main(root: pathlib.Path) -> int:
    headers = {p.relative_to(root).as_posix(): p for p in root.rglob("*.hpp")}
    includes = {name: INCLUDE.findall(p.read_text()) for name, p in headers.items()}

    def reach(name, seen):
        for inc in includes.get(name, []):
            if inc not in seen:
                seen.add(inc)
                reach(inc, seen)
        return seen

    failures = []
    for name, path in sorted(headers.items()):
        code = STRING.sub('""', COMMENT.sub("", path.read_text()))
        code = INCLUDE.sub("", code)
        reached = reach(name, set())
        for pattern, prefixes in RULES.items():
            if re.search(pattern, code) and not any(r.startswith(prefixes) for r in reached):
                failures.append(f"{name}: uses {pattern!r} but includes none of {prefixes}")
    for f in failures:
        print(f)
    print(f"checked {len(headers)} headers, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
