// settings.h — every setting of `mhc train`, declared once: its name (the
// flag without "--", and its key in config.json), type, help text, help
// group and accepted values. The flags (TrainFlags::bind), config.json out
// and in (to_json / train_config_from_json), the per-setting validation
// ("--optim.lr: must be a finite number in (0, 10]") and describe()'s table
// are all generated from this list. Defaults are the preset's values (the
// TrainConfig the flags are bound to).
//
// Adding a setting: one entry in its group's builder in train/settings.cpp
// (add_model_settings, add_optim_settings, ...) plus the struct member and
// the code that uses it.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "train/config.h"
#include "fileio/json_io.h"

namespace mhc {

// --seed is unsigned; CLI11 alone would wrap "-1" to 2^64 − 1.
extern const CLI::Validator kSeedCheck;
// A numeric option given an empty value ("--optim.beta2 ''"): refused, where
// CLI11 alone would read it as 0.
extern const CLI::Validator kNotEmpty;

struct Setting {
  std::string name;   // "optim.lr": the flag --optim.lr and the config.json key
  std::string group;  // help section ("" : the top-level options)
  std::string help;
  bool flag = true;     // false: config.json only (no command-line flag)
  bool saved = true;    // false: not in config.json (where the run lives, not what it is)
  bool hidden = false;  // left out of --help (testing aids)
  // Adds the CLI11 option bound to c (an on/off switch: a flag without value).
  std::function<CLI::Option*(CLI::App&, TrainConfig&)> bind;
  std::function<Json(const TrainConfig&)> get;
  // Sets the value from JSON; throws std::invalid_argument naming the setting.
  std::function<void(TrainConfig&, const Json&)> set;
  // Throws std::invalid_argument "--name: must be ..." unless the value is accepted.
  std::function<void(const TrainConfig&)> check;
  std::function<std::string(const TrainConfig&)> text;  // the value as describe() shows it
};

// In declaration order, which is the order of --help, config.json and describe().
const std::vector<Setting>& settings();
const Setting* find_setting(const std::string& name);  // nullptr when unknown

// The names of enumerations, for messages and JSON.
std::string schedule_name(Schedule s);
std::string tokenizer_name(TokenizerKind t);

}  // namespace mhc
