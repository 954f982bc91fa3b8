#include "train/distributed_env.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace qf::train {
namespace {

int parse_int(const char* name, const char* text, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
    throw std::runtime_error(std::string("environment variable ") + name + "='" + text + "': expected an integer in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

}  // namespace

DistributedEnv distributed_env_from(const char* (*get)(const char*)) {
  DistributedEnv e;
  const char* world = get("WORLD_SIZE");
  if (world == nullptr) return e;
  e.world_size = parse_int("WORLD_SIZE", world, 1, 1 << 16);
  if (const char* t = get("QFORGE_DIST_TIMEOUT_S"))
    e.timeout = std::chrono::milliseconds(1000L * parse_int("QFORGE_DIST_TIMEOUT_S", t, 1, 86400));
  if (e.world_size == 1) return e;
  const char* rank = get("RANK");
  if (rank == nullptr) throw std::runtime_error("environment variable WORLD_SIZE is set but RANK is not (launch with torchrun or qforge run --nproc)");
  e.rank = parse_int("RANK", rank, 0, e.world_size - 1);
  const char* local = get("LOCAL_RANK");
  e.local_rank = local ? parse_int("LOCAL_RANK", local, 0, e.world_size - 1) : e.rank;
  if (const char* a = get("MASTER_ADDR")) {
    if (*a == '\0') throw std::runtime_error("environment variable MASTER_ADDR is empty");
    e.master_addr = a;
  }
  if (const char* p = get("MASTER_PORT")) e.master_port = parse_int("MASTER_PORT", p, 1, 65535);
  return e;
}

DistributedEnv distributed_env_from_environment() {
  return distributed_env_from([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace qf::train
