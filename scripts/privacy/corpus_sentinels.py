#!/usr/bin/env python3
"""Payloads shaped like every real payload in ../shared/okra-corpus, with a distinct sentinel in
each personal field, for the privacy tests (docs/privacy.md).

    corpus_sentinels.py CORPUS_DIR OUT_DIR

Each corpus payload (JSON, or a Python repr() dict turned into JSON) is written to OUT_DIR as
NNN.json with every personal value replaced by a sentinel of its own, and once more cut short
(a dead letter whose body holds sentinels); a file that is neither (truncated or invalid as
published) is written as it is, with the same replacement made in its text. OUT_DIR/manifest.json lists the files, their
sources and their sentinels.

Which values are personal is decided here, apart from the bridge's own list, from what the
corpus's INDEX.md says: the placeholders that replaced a real person's data in the redacted
deliveries (any value equal to one of them), and the fields it names as personal.
"""
import ast
import json
import os
import re
import sys

# The placeholders deliveries/INDEX.md says replaced personal data in the redacted files.
PLACEHOLDERS = {"00000000000", "0000000000", "1900-01-01", "REDACTED", "https://REDACTED.invalid/REDACTED.png"}
# The fields the corpus's INDEX.md files name as personal (BVN, phone, date of birth, address,
# names, NUBAN, LGA and state, gender, marital status, the BVN photo, email, enrollment).
PERSONAL_KEYS = {
    "bvn", "customerBvn", "nin", "phone", "email", "customerEmail", "dob", "address", "firstname", "lastname",
    "middlename", "fullname", "name", "nuban", "gender", "marital_status", "lga_of_origin", "lga_of_residence",
    "state_of_origin", "state_of_residence", "url", "branch", "registration_date", "aliases", "next_of_kins",
}


class Sentinels:
    def __init__(self, prefix):
        self.prefix = prefix
        self.made = []

    def next(self):
        value = f"{self.prefix}{len(self.made):04d}zq"
        self.made.append(value)
        return value


def replace(value, sentinels, personal=False):
    if isinstance(value, dict):
        return {k: replace(v, sentinels, personal or k in PERSONAL_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [replace(v, sentinels, personal) for v in value]
    if isinstance(value, str) and (personal and value != "" or value in PLACEHOLDERS):
        return sentinels.next()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and personal:
        return sentinels.next()
    return value


def parse(text):
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(text)
        return value if isinstance(value, (dict, list)) else None
    except (ValueError, SyntaxError):
        return None


def main(corpus, out):
    os.makedirs(out, exist_ok=True)
    manifest = []
    number = 0
    for folder in ("deliveries", "api-answers", "cases"):
        directory = os.path.join(corpus, folder)
        for name in sorted(os.listdir(directory)):
            if name.startswith("expected") or not name.endswith((".json", ".txt")):
                continue
            text = open(os.path.join(directory, name), encoding="utf-8").read()
            sentinels = Sentinels(f"snt{number:03d}x")
            value = parse(text)
            if value is not None:
                body = json.dumps(replace(value, sentinels), ensure_ascii=False)
                kind = "json"
            else:
                body = text
                for placeholder in sorted(PLACEHOLDERS, key=len, reverse=True):
                    body = re.sub(re.escape(placeholder), lambda _: sentinels.next(), body)
                kind = "raw"
            path = os.path.join(out, f"{number:03d}.json")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(body)
            manifest.append({"file": path, "source": f"{folder}/{name}", "kind": kind, "sentinels": sentinels.made})
            number += 1
            if kind == "json" and sentinels.made:
                # The same payload cut short, as a truncated delivery would be: a dead letter
                # whose raw body holds every sentinel (new ones, so each answer is told apart).
                cut = Sentinels(f"snt{number:03d}x")
                truncated = json.dumps(replace(value, cut), ensure_ascii=False)[:-1]
                path = os.path.join(out, f"{number:03d}.json")
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(truncated)
                manifest.append({"file": path, "source": f"{folder}/{name} (cut short)", "kind": "truncated", "sentinels": cut.made})
                number += 1
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1)
    print(f"{number} payloads, {sum(len(m['sentinels']) for m in manifest)} sentinels")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
