#include "train/metrics_log.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace qf::train {

void MetricsLog::append(const Json& record) {
  std::ofstream out(path_, std::ios::app);
  out << record.dump() << '\n';
  if (!out) throw std::runtime_error("cannot append to " + path_);
}

std::vector<Json> MetricsLog::read(const std::string& path) {
  std::vector<Json> records;
  std::ifstream in(path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      records.push_back(Json::parse(line));
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  return records;
}

void MetricsLog::truncate_after_epoch(int64_t epochs_done) {
  std::string kept;
  for (const Json& r : read(path_)) {
    const std::string event = r.contains("event") ? r.at("event").as_string() : "";
    const bool keep = (event == "start" && epochs_done > 0) ||
                      (event == "epoch" && r.contains("epoch") && r.at("epoch").as_int() <= epochs_done);
    if (keep) kept += r.dump() + '\n';
  }
  const std::string tmp = path_ + ".tmp";
  std::ofstream(tmp) << kept;
  std::filesystem::rename(tmp, path_);
}

}  // namespace qf::train
