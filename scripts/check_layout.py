#!/usr/bin/env python3
"""Checks the module layout that docs/architecture.md describes; prints each breach and exits 1.

- every librdkafka call (rd_kafka_*, RD_KAFKA_*) and every `import CRDKafka` is under
  Sources/OkraKafka/RDKafka/;
- each module imports only what its room allows (the pure core imports Foundation only, the
  pipeline no HTTP, SQLite or Kafka, the HTTP layer neither OkraKafka nor GRDB);
- every public declaration in Sources/ has a `///` summary;
- nothing in Sources/ imports FoundationNetworking (it links libcurl, which the image lacks);
- no function, initializer or computed property in Sources/ is longer than 60 lines, from its
  declaration to its closing brace (a long one is split into named steps).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
C_FOLDER = ROOT / "Sources" / "OkraKafka" / "RDKafka"

# Imports a module may not have.
FORBIDDEN_IMPORTS = {
    "OkraEnvelope": {"*"},  # Foundation (and the standard library's modules) only
    "OkraRouting": {"*"},
    # The operations port and the admin API's types: shared by the server and the CLI, pure.
    "OkraOperations": {"*"},
    "OkraIngest": {"Hummingbird", "NIOCore", "NIOPosix", "GRDB", "GRDBSQLite", "OkraKafka", "OkraStore", "OkraPublisher", "OkraHTTP", "CRDKafka"},
    "OkraStore": {"Hummingbird", "NIOCore", "OkraKafka", "OkraPublisher", "OkraHTTP", "CRDKafka"},
    "OkraPublisher": {"Hummingbird", "NIOCore", "GRDB", "GRDBSQLite", "OkraHTTP", "CRDKafka"},
    "OkraHTTP": {"OkraKafka", "GRDB", "GRDBSQLite", "OkraStore", "OkraPublisher", "CRDKafka"},
    "OkraKafka": {"Hummingbird", "GRDB", "GRDBSQLite", "OkraEnvelope", "OkraRouting", "OkraIngest", "OkraStore", "OkraPublisher", "OkraHTTP"},
    # Okra's API client knows nothing of the bridge: usable on its own.
    "OkraClient": {"Hummingbird", "GRDB", "GRDBSQLite", "OkraKafka", "OkraEnvelope", "OkraRouting", "OkraIngest", "OkraStore", "OkraPublisher", "OkraHTTP", "CRDKafka"},
}
PURE_ALLOWED = {"Foundation", "Synchronization", "OkraEnvelope"}

MAX_FUNCTION_LINES = 60
FUNCTION = re.compile(r"^\s*(?:@[\w().,: ]+\s+)*(?:(?:public|private|fileprivate|internal|package|static|class|final|override|mutating|nonisolated|convenience|required)\s+)*"
                      r"(?:func\s+[^\s(<]+|init[?!]?\s*[(<]|deinit\b|subscript\s*\(|var\s+\w+\s*:[^={]*\{\s*$)")
STRING_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"')


def long_functions(lines):
    """(line number, length, declaration) of each body over MAX_FUNCTION_LINES lines."""
    found = []
    for start, line in enumerate(lines):
        if not FUNCTION.match(line):
            continue
        depth, opened = 0, False
        for end in range(start, len(lines)):
            code = STRING_LITERAL.sub('""', lines[end].split("//", 1)[0])
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            if not opened and end > start + 8:  # a protocol requirement: no body
                break
        if opened and end - start + 1 > MAX_FUNCTION_LINES:
            found.append((start + 1, end - start + 1, line.strip()[:80]))
    return found


C_CALL = re.compile(r"\b(rd_kafka_\w+|RD_KAFKA_\w+)")
IMPORT = re.compile(r"^\s*(?:@testable\s+|@preconcurrency\s+)?import\s+(\w+)", re.M)
PUBLIC = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:public|open)\s+(?:final\s+|static\s+|override\s+|mutating\s+|nonisolated\s+)*"
                    r"(?:func|var|let|init|struct|class|enum|protocol|typealias|subscript|case|actor|extension)\b")


def main() -> int:
    problems = []
    for path in sorted((ROOT / "Sources").rglob("*.swift")) + sorted((ROOT / "Tests").rglob("*.swift")):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(ROOT)
        in_c_folder = C_FOLDER in path.parents
        code = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
        if not in_c_folder:
            for match in C_CALL.finditer(code):
                problems.append(f"{relative}: {match.group(1)} outside Sources/OkraKafka/RDKafka/")
        for name in IMPORT.findall(text):
            if name == "CRDKafka" and not in_c_folder:
                problems.append(f"{relative}: imports CRDKafka outside Sources/OkraKafka/RDKafka/")
        if relative.parts[0] != "Sources":
            continue
        module = relative.parts[1]
        # FoundationNetworking links libcurl, which the container image does not carry
        # (docs/deploy.md): HTTP clients use AsyncHTTPClient.
        if "FoundationNetworking" in IMPORT.findall(text):
            problems.append(f"{relative}: imports FoundationNetworking (libcurl); use AsyncHTTPClient")
        forbidden = FORBIDDEN_IMPORTS.get(module, set())
        for name in IMPORT.findall(text):
            if ("*" in forbidden and name not in PURE_ALLOWED) or name in forbidden:
                problems.append(f"{relative}: module {module} must not import {name}")
        lines = text.splitlines()
        for number, length, declaration in long_functions(lines):
            problems.append(f"{relative}:{number}: {length} lines, more than {MAX_FUNCTION_LINES}: {declaration}")
        for index, line in enumerate(lines):
            if not PUBLIC.match(line) or re.match(r"^\s*(public|open)\s+extension\b", line):
                continue
            previous = index - 1
            while previous >= 0 and re.match(r"^\s*@", lines[previous]):
                previous -= 1
            if previous < 0 or not lines[previous].strip().startswith("///"):
                problems.append(f"{relative}:{index + 1}: public declaration without a /// summary: {line.strip()[:80]}")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layout problem(s); docs/architecture.md says where things go", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
