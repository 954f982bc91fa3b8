// Writes the fuzz seed: a small valid checkpoint with every weight storage kind.
#include <cstdio>

#include "export/checkpoint_writer.h"
#include "test_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output.qf.h5>\n", argv[0]);
    return 2;
  }
  qf::CheckpointContent c = qf::test::all_kinds_content();
  c.metrics_json = "{}";
  qf::write_checkpoint(argv[1], c);
  return 0;
}
