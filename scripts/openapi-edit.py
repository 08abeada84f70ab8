#!/usr/bin/env python3
"""Loads the OpenAPI document from Sources/WorkflowAPI/OpenAPIDocument.swift, lets a small Python
snippet (stdin) change it as `doc`, and writes it back pretty-printed. The Swift file stays the one copy."""
import json
import pathlib
import sys

path = pathlib.Path(__file__).resolve().parent.parent / "Sources/WorkflowAPI/OpenAPIDocument.swift"
source = path.read_text()
head, rest = source.split('#"""\n', 1)
body, tail = rest.rsplit('\n"""#', 1)
doc = json.loads(body)
exec(sys.stdin.read(), {"doc": doc})
path.write_text(head + '#"""\n' + json.dumps(doc, indent=2, ensure_ascii=False) + '\n"""#' + tail)
