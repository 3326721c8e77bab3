#!/usr/bin/env python3
"""Checks an AsyncAPI 3.0 document: its structure with asyncapi3 (the AsyncAPI 3.0 models on
PyPI) and every $ref resolved with jsonref (asyncapi3 does not follow references). Exit 0 when
valid; 1 with the reason otherwise. No $ref may leave the document.

Usage: check_asyncapi.py DOCUMENT
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore", message='Field name "schema"')  # asyncapi3 0.0.2 names a field "schema"

import jsonref  # noqa: E402
from asyncapi3 import AsyncAPI3  # noqa: E402


def no_remote(uri):
    raise ValueError(f"a $ref leaves the document: {uri}")


def check(document):
    spec = AsyncAPI3.model_validate(document)
    jsonref.replace_refs(document, lazy_load=False, proxies=False, loader=no_remote)
    return spec


def main():
    with open(sys.argv[1]) as f:
        document = json.load(f)
    try:
        spec = check(document)
    except Exception as error:  # pydantic's ValidationError, jsonref's JsonRefError
        print(f"invalid: {type(error).__name__}: {str(error)[:600]}")
        return 1
    print(f"valid AsyncAPI {spec.asyncapi}: {len(spec.channels)} channels, {len(spec.operations)} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
