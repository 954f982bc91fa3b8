// A check's report for people (a table) and for CI systems: JUnit XML (one <testcase> per
// metric, <failure> when it regressed) and JSON. Std-only.
#pragma once

#include <string>

#include "gate/compare.h"

namespace qf::gate {

std::string report_table(const CheckReport& report);
std::string report_junit_xml(const CheckReport& report, double seconds = 0);
std::string report_json(const CheckReport& report);

// XML 1.0 text/attribute escaping; characters XML 1.0 forbids are replaced by '?'.
std::string xml_escape(const std::string& s);

// Writes `text` to `path` through a temporary name and a rename (no half-written file).
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace qf::gate
