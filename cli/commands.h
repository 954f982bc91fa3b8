// Each `qforge` subcommand registers itself on the CLI11 app: parse, then call the libraries.
#pragma once

#include <CLI/CLI.hpp>

namespace qf::cli {

void add_run_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_validate_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_check_command(CLI::App& app);
void add_report_command(CLI::App& app);
#ifdef QFORGE_HAVE_TOKENIZER
void add_tokenize_command(CLI::App& app);
#endif
void add_logits_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_sensitivity_command(CLI::App& app);

}  // namespace qf::cli
