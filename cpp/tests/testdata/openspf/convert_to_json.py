#!/usr/bin/env python3
"""Convert the openspf RFC 7208 test suite (YAML) into rfc7208-tests.json.

The GoogleTest suite reads the JSON with nlohmann_json, so the C++ build needs
no YAML parser. Run it again after replacing rfc7208-tests.yml:

    python3 convert_to_json.py            # needs PyYAML

Zone data is rendered as the test suite's drivers do it: SPF-type entries are
published as TXT unless the name has its own TXT entries, "TXT: NONE" means no
TXT record, and "TIMEOUT" marks a name whose every query times out.
"""

import json
import pathlib

import yaml

HERE = pathlib.Path(__file__).resolve().parent


def as_strings(value):
    """Return a TXT value as its list of character-strings."""
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


def render_zone(zonedata):
    """Return {name: [record, ...]} with SPF entries turned into TXT."""
    zone = {}
    for name, entries in (zonedata or {}).items():
        has_txt = any(isinstance(entry, dict) and "TXT" in entry for entry in entries)
        records = []
        for entry in entries:
            if entry == "TIMEOUT":
                records.append({"type": "TIMEOUT"})
                continue
            (rrtype, value), = entry.items()
            if rrtype == "SPF":
                if has_txt:
                    continue
                rrtype = "TXT"
            if rrtype == "TXT":
                if value == "NONE":
                    continue
                records.append({"type": "TXT", "strings": as_strings(value)})
            elif rrtype == "MX":
                records.append({"type": "MX", "preference": int(value[0]), "exchange": str(value[1])})
            else:
                records.append({"type": rrtype, "value": str(value)})
        zone[str(name).lower().rstrip(".")] = records
    return zone


def convert(text):
    """Return the list of scenarios of the YAML suite `text`."""
    scenarios = []
    for document in yaml.safe_load_all(text):
        tests = []
        for name, case in document["tests"].items():
            results = case["result"] if isinstance(case["result"], list) else [case["result"]]
            tests.append({
                "name": name,
                "spec": str(case.get("spec", "")),
                "helo": str(case["helo"]),
                "host": str(case["host"]),
                "mailfrom": str(case["mailfrom"]),
                "results": [str(result) for result in results],
                "explanation": case.get("explanation"),
            })
        scenarios.append({
            "description": document["description"],
            "tests": tests,
            "zone": render_zone(document.get("zonedata")),
        })
    return scenarios


def main():
    text = (HERE / "rfc7208-tests.yml").read_text(encoding="utf-8")
    output = HERE / "rfc7208-tests.json"
    output.write_text(json.dumps(convert(text), indent=1, ensure_ascii=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
