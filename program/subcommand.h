// subcommand.h — one `mhc` subcommand: the flags it adds to the parser, and
// what it does once they are parsed. main.cpp holds the list of them; each
// lives in its own cmd_<name>.cpp.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>

namespace mhc {

class ProcessGroup;

// What a subcommand's run may use beyond its own flags.
struct CommandContext {
  const char* program;  // argv[0], for the commands a message suggests
  ProcessGroup& group;  // this process's data-parallel group (one rank unless under mpirun)
};

class Subcommand {
 public:
  virtual ~Subcommand() = default;
  // Whether the user chose this subcommand (after parsing).
  bool chosen() const { return app_ && app_->parsed(); }
  const CLI::App* app() const { return app_; }
  // Runs it; returns the exit status. Throws std::exception on an error.
  virtual int run(const CommandContext& context) = 0;

 protected:
  CLI::App* app_ = nullptr;  // set by the constructor, owned by the parser
};

// The subcommands, in the order `mhc --help` lists them. Each constructor
// adds its flags to `app`. `train` reads argv first: with --resume its
// defaults are the resumed run's settings (throws when they cannot be read).
std::unique_ptr<Subcommand> add_train(CLI::App& app, int argc, char** argv);
std::unique_ptr<Subcommand> add_sample(CLI::App& app);
std::unique_ptr<Subcommand> add_eval(CLI::App& app);
std::unique_ptr<Subcommand> add_plot(CLI::App& app);
std::unique_ptr<Subcommand> add_sweep(CLI::App& app);
std::unique_ptr<Subcommand> add_export(CLI::App& app);
std::unique_ptr<Subcommand> add_tokenize(CLI::App& app);
std::unique_ptr<Subcommand> add_report(CLI::App& app);

}  // namespace mhc
