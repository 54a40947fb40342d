#!/usr/bin/env python3
"""Writes conformance/measures/<CMS>-<year>.json from the eCQM bundles in
../shared/data/ecqm: the Measure (narrative dropped) and every ValueSet it
uses, expansion codes only (system + code; displays dropped to keep the repo
small). Tandem evaluates measures natively, so the Libraries are not copied.
Run from the repository root: python3 scripts/extract-measures.py"""
import json, glob, os

SETS = {"qicore-2024": 2025, "qicore-2025": 2026}
root = os.path.join("..", "shared", "data", "ecqm")
for set_name, year in SETS.items():
    for path in sorted(glob.glob(os.path.join(root, set_name, "*", "measure-bundle.json"))):
        cms = path.split(os.sep)[-2]
        bundle = json.load(open(path))
        keep = []
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "Measure":
                r.pop("text", None)
                keep.append({"fullUrl": e.get("fullUrl"), "resource": r})
            elif r["resourceType"] == "ValueSet" and "expansion" in r:
                contains = [{"system": c["system"], "code": c["code"]} for c in r["expansion"].get("contains", [])]
                vs = {k: r[k] for k in ("resourceType", "id", "url", "version", "name", "title", "status") if k in r}
                vs["expansion"] = {"timestamp": r["expansion"].get("timestamp"), "contains": contains}
                keep.append({"fullUrl": e.get("fullUrl"), "resource": vs})
        out = {"resourceType": "Bundle", "id": f"{cms}-{year}", "type": "collection", "entry": keep}
        dest = os.path.join("conformance", "measures", f"{cms}-{year}.json")
        with open(dest, "w") as f:
            json.dump(out, f, separators=(",", ":"))
        print(dest, os.path.getsize(dest))
