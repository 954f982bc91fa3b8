#include "gate/report_writers.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "core/json.h"

namespace qf::gate {

namespace {

std::string report_num(double v, int prec = 6) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", prec, v);
  return buf;
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }

}  // namespace

std::string report_table(const CheckReport& r) {
  std::string out = "qforge check " + r.target + " against " + r.baseline_file + " (recipe " + r.recipe + ")\n";
  out += pad("metric", 17) + pad("candidate", 24) + pad("baseline", 28) + pad("rule", 12) + "verdict\n";
  for (const MetricResult& m : r.results) {
    std::string cand = report_num(m.candidate);
    if (m.values.size() > 1) cand += " (" + std::to_string(m.values.size()) + " seeds)";
    if (!m.unit.empty() && m.unit != "fraction" && m.unit != "pass=1") cand += " " + m.unit;
    out += pad(m.name, 17) + pad(cand, 24) + pad(m.baseline_text, 28) + pad(m.rule, 12) + (m.passed ? "pass" : "FAIL") + "\n";
  }
  for (const MetricResult& m : r.results)
    if (!m.passed) out += "  FAIL " + m.message + "\n";
  out += r.passed() ? "PASS: no regression in " + std::to_string(r.results.size()) + " metrics\n"
                    : "REGRESSION: " + std::to_string(r.failures()) + " of " + std::to_string(r.results.size()) +
                          " metrics failed\n";
  return out;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') o += '?';
        else o += ch;
    }
  }
  return o;
}

std::string report_junit_xml(const CheckReport& r, double seconds) {
  const std::string suite = "qforge check " + r.recipe;
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const std::string counts = " tests=\"" + std::to_string(r.results.size()) + "\" failures=\"" +
                             std::to_string(r.failures()) + "\" errors=\"0\" skipped=\"0\"";
  x += "<testsuites name=\"qforge check\"" + counts + " time=\"" + report_num(seconds) + "\">\n";
  x += "  <testsuite name=\"" + xml_escape(suite) + "\"" + counts + " time=\"" + report_num(seconds) + "\">\n";
  x += "    <properties>\n";
  x += "      <property name=\"target\" value=\"" + xml_escape(r.target) + "\"/>\n";
  x += "      <property name=\"baseline\" value=\"" + xml_escape(r.baseline_file) + "\"/>\n";
  x += "      <property name=\"alpha\" value=\"" + report_num(r.alpha) + "\"/>\n";
  x += "    </properties>\n";
  for (const MetricResult& m : r.results) {
    x += "    <testcase classname=\"qforge.check." + xml_escape(r.recipe) + "\" name=\"" + xml_escape(m.name) + "\" time=\"0\">\n";
    if (!m.passed)
      x += "      <failure type=\"regression\" message=\"" + xml_escape(m.message) + "\">" +
           xml_escape("candidate " + report_num(m.candidate) + ", baseline " + m.baseline_text + ", rule " + m.rule) +
           "</failure>\n";
    x += "      <system-out>" + xml_escape(m.message) + "</system-out>\n";
    x += "    </testcase>\n";
  }
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

std::string report_json(const CheckReport& r) {
  Json o = Json::object();
  o["target"] = r.target;
  o["baseline"] = r.baseline_file;
  o["recipe"] = r.recipe;
  o["alpha"] = r.alpha;
  o["passed"] = r.passed();
  o["failures"] = static_cast<int64_t>(r.failures());
  Json arr = Json::array();
  for (const MetricResult& m : r.results) {
    Json j = Json::object();
    auto finite = [](double v) { return std::isfinite(v) ? Json(v) : Json(); };
    j["metric"] = m.name;
    j["unit"] = m.unit;
    j["higher_is_better"] = m.higher_is_better;
    j["passed"] = m.passed;
    j["rule"] = m.rule;
    Json vals = Json::array();
    for (double v : m.values) vals.push_back(finite(v));
    j["values"] = vals;
    j["candidate"] = finite(m.candidate);
    j["reference"] = finite(m.reference);
    j["limit"] = finite(m.limit);
    j["p_value"] = m.p_value < 0 ? Json() : finite(m.p_value);
    j["baseline"] = m.baseline_text;
    j["message"] = m.message;
    arr.push_back(j);
  }
  o["metrics"] = arr;
  return o.dump() + "\n";
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot write (" + tmp + ")");
    out << text;
    out.flush();
    if (!out) throw std::runtime_error(path + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error(path + ": cannot rename " + tmp + " into place");
}

}  // namespace qf::gate
