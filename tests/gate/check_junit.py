"""Parses a JUnit XML report with a real XML parser and checks its structure: one <testcase> per
metric named in argv[2:], <failure> exactly for those prefixed with '!'.
Usage: check_junit.py REPORT.xml metric !failed_metric ..."""
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1, suites
cases = {c.get("name"): c for c in suites[0].findall("testcase")}
want = [a.lstrip("!") for a in sys.argv[2:]]
assert sorted(cases) == sorted(want), (sorted(cases), want)
failed = 0
for a in sys.argv[2:]:
    name = a.lstrip("!")
    f = cases[name].find("failure")
    assert (f is not None) == a.startswith("!"), (name, f)
    if f is not None:
        assert f.get("message"), name
        failed += 1
assert int(suites[0].get("failures")) == failed, suites[0].get("failures")
assert int(suites[0].get("tests")) == len(want)
print("junit ok:", len(want), "testcases,", failed, "failures")
