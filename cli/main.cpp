// qforge: quantization-aware training, compression and verified deployment.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/version.h"

int main(int argc, char** argv) {
  CLI::App app{"qforge " QFORGE_VERSION_STRING
               ": train float models to int8/int4, 2:4-sparse checkpoints and verify them"};
  app.set_version_flag("--version", "qforge " QFORGE_VERSION_STRING);
  app.require_subcommand(1);
  qf::cli::add_run_command(app);
  qf::cli::add_eval_command(app);
  qf::cli::add_export_command(app);
  qf::cli::add_inspect_command(app);
  qf::cli::add_validate_command(app);
  qf::cli::add_generate_command(app);
  qf::cli::add_bench_command(app);
  qf::cli::add_check_command(app);
  qf::cli::add_report_command(app);
#ifdef QFORGE_HAVE_TOKENIZER
  qf::cli::add_tokenize_command(app);
#endif
  qf::cli::add_logits_command(app);
  qf::cli::add_calibrate_command(app);
  qf::cli::add_sensitivity_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qforge: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
