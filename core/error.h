// The one exception type of qforge's std-only libraries (core, export writer, runtime).
// Callers catch qf::Error to report bad input (malformed checkpoint, invalid graph, bad JSON);
// the message names the object at fault (dataset, layer, op, JSON position) and what is wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace qf {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace qf
