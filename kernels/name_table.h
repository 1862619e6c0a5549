// name_table.h — one table of names per enum, written beside the enum. The
// same table prints a value (name_of), parses a name (value_named) and lists
// the command line's choices (train/settings.cpp), so the three never drift.
// A value's first entry is its canonical name; later entries for the same
// value are aliases accepted on input (--hc.fused true).
#pragma once
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mhc {

template <class E>
struct EnumName {
  const char* name;
  E value;
};

// Each function takes the table as a C array or any range of EnumName<E>
// (a std::vector from all_names or names_among).
template <class Table, class E>
const char* name_of(const Table& table, E value) {
  for (const EnumName<E>& n : table)
    if (n.value == value) return n.name;
  return "?";
}

template <class Table>
auto value_named(const Table& table, std::string_view name) -> std::optional<decltype(std::begin(table)->value)> {
  for (const auto& n : table)
    if (name == n.name) return n.value;
  return std::nullopt;
}

// The canonical names, in table order ("gelu, swiglu, moe").
template <class E, size_t N>
std::string canonical_names(const EnumName<E> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    bool alias = false;
    for (size_t j = 0; j < i; ++j) alias = alias || table[j].value == table[i].value;
    if (!alias) out += (out.empty() ? "" : ", ") + std::string(table[i].name);
  }
  return out;
}

// Every entry, aliases included, as a list the settings registry takes.
template <class E, size_t N>
std::vector<EnumName<E>> all_names(const EnumName<E> (&table)[N]) {
  return std::vector<EnumName<E>>(table, table + N);
}

// The entries of the values in `keep` only: a setting that accepts some of
// an enum's values (--dtype takes f32 and bf16, not f64 or i32).
template <class E, size_t N>
std::vector<EnumName<E>> names_among(const EnumName<E> (&table)[N], std::initializer_list<E> keep) {
  std::vector<EnumName<E>> out;
  for (const EnumName<E>& n : table)
    for (E k : keep)
      if (n.value == k) out.push_back(n);
  return out;
}

}  // namespace mhc
