// choice_eval.h — HellaSwag-style multiple-choice evaluation of a model: a
// context, several endings, the index of the right one. Each ending is scored
// by the model's loss on the ending's tokens given the context; the model
// picks the ending with the lowest total loss ("accuracy") and, separately,
// the lowest mean loss per token ("length-normalised accuracy"), as llm.c's
// hellaswag.py and the GPT-2 / GPT-3 papers count them.
//
// The file is JSON lines in the format Hugging Face's Rowan/hellaswag and
// llm.c use: {"ctx": "...", "endings": ["...", ...], "label": k} per line
// (other keys ignored; HellaSwag has four endings). An ending is encoded
// with a space before it (" " + ending), as llm.c does for GPT-2, when the
// tokenizer has a space (a character vocabulary may not); where
// context and ending exceed the model's context, the context is cut from its
// start.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/tokenizer.h"
#include "layers/transformer.h"

namespace mhc {

struct ChoiceExample {
  std::vector<int32_t> context;               // token ids
  std::vector<std::vector<int32_t>> endings;  // token ids of each (non-empty) ending
  int64_t label = 0;                          // the right ending
};

// Reads and tokenises the file; refuses (std::runtime_error naming the file
// and the line) a line without a string ctx, a list of at least 2 non-empty
// string endings, or an integer label among them, and a file with no line.
std::vector<ChoiceExample> read_choice_file(const std::string& path, const Tokenizer& tokenizer);

struct ChoiceScore {
  int64_t examples = 0, correct = 0, correct_norm = 0;
  double accuracy() const { return examples ? static_cast<double>(correct) / static_cast<double>(examples) : 0; }
  double accuracy_norm() const {
    return examples ? static_cast<double>(correct_norm) / static_cast<double>(examples) : 0;
  }
};

// Scores every example (evaluation mode, no gradients). Ties go to the
// lower ending index.
ChoiceScore score_choices(Transformer& model, const std::vector<ChoiceExample>& examples);

}  // namespace mhc
