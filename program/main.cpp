// main.cpp — the `mhc` program: the list of subcommands, the parse, and the
// one place errors become exit statuses. Each subcommand lives in its own
// cmd_<name>.cpp (see subcommand.h):
//
//   mhc train    --preset cpu-char --residual mhc --streams 4
//   mhc sample   --run runs/cpu-char-mhc-n4 --prompt "ROMEO:"
//   mhc eval     --run runs/cpu-char-mhc-n4
//   mhc plot     runs/cpu-char-residual runs/cpu-char-hc-n4 runs/cpu-char-mhc-n4 --out plots/
//   mhc sweep    experiments/cpu-variants.json      (a grid of runs; see studies/sweep.h)
//   mhc export   runs/cpu-char-mhc-n4               (the weights alone, safetensors)
//   mhc tokenize input.txt --tokenizer bpe --out data/mine   (llm.c shards for --data data/mine)
//   mhc report   sweeps/cpu-variants                (its report.md and figures)
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <vector>

#include "build_info.h"  // MHC_COMMIT (program/build_info.cmake)
#include "kernels/cpu/cpu_threads.h"
#include "parallel/process_group.h"
#include "program/subcommand.h"
#include "train/trainer.h"

using namespace mhc;

namespace {

// The exit status of a subcommand's run: errors are printed here. An error
// on one rank ends the whole job (the others would wait for it forever in
// their next reduction), saying which rank failed.
int run_command(Subcommand& command, const CommandContext& ctx) {
  ProcessGroup& group = ctx.group;
  auto fail = [&](const std::string& message, int code) {
    if (group.size() > 1) {
      fmt::print(stderr, "error: rank {} of {}: {}\n", group.rank(), group.size(), message);
      std::fflush(stderr);
      group.abort(code);
    }
    fmt::print(stderr, "error: {}\n", message);
    return code;
  };
  try {
    if (group.size() > 1 && command.app()->get_name() != "train")
      throw std::invalid_argument(fmt::format("only `mhc train` runs as several processes; run `mhc {}` without mpirun",
                                              command.app()->get_name()));
    return command.run(ctx);
  } catch (const DivergenceError& e) {
    // The loss and gradient norm are global: every rank stops at the same step, rank 0 says so.
    if (group.is_root()) {
      fmt::print(stderr, "\nerror: {}\n", e.what());
      std::fflush(stderr);
    }
    group.barrier();  // rank 0 has said it before any rank's exit status ends the job
    return 3;
  } catch (const std::bad_alloc&) {  // the last resort: sizes are checked against memory before a run starts
    return fail("out of memory (std::bad_alloc); use smaller --model.* sizes, --optim.batch_size or --model.block_size",
                1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  adapt_cpu_threads_to_load(true);  // fewer threads while other programs keep cores busy
  CLI::App app{
      "mhc — train small language models with a residual stream, Hyper-Connections (HC)\n"
      "or Manifold-Constrained Hyper-Connections (mHC), and compare them.\n\n"
      "  mhc train --preset cpu-char --residual mhc --streams 4\n"
      "  mhc plot runs/cpu-char-residual runs/cpu-char-mhc-n4 --out plots\n"
      "  mhc sweep experiments/cpu-variants.json\n"};
  app.set_version_flag("--version", fmt::format("mhc {} (commit {}; {})", MHC_VERSION, MHC_COMMIT, MHC_BUILD_OPTIONS),
                       "print the version, the commit and the build's options, and exit");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show every option of every subcommand");

  // The registration list: a new subcommand is one line here and one file.
  std::vector<std::unique_ptr<Subcommand>> commands;
  try {
    commands.push_back(add_train(app, argc, argv));
  } catch (const std::exception& e) {  // the resumed run's settings cannot be read
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  for (auto add : {add_sample, add_eval, add_plot, add_sweep, add_export, add_tokenize, add_report})
    commands.push_back(add(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Under mpirun, this process is one rank of a data-parallel job.
  std::unique_ptr<ProcessGroup> group;
  try {
    group = ProcessGroup::from_environment();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  share_cpu_cores(group->local_size());  // K ranks on one machine: its cores split between them
  for (auto& command : commands)
    if (command->chosen()) return run_command(*command, {argv[0], *group});
  return 0;
}
