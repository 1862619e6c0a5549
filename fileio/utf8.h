// utf8.h — decoding and encoding UTF-8, strictly: overlong forms, surrogates,
// code points above U+10FFFF, stray continuation bytes and sequences cut
// short are all errors that name the byte offset.
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mhc {

// Decodes the code point that starts at text[pos] and stores its length in
// bytes (1..4) in `length`. Throws std::invalid_argument for malformed input.
inline char32_t decode_utf8(std::string_view text, size_t pos, int& length) {
  const auto byte_at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte_at(pos);
  auto fail = [&](const char* why) {
    return std::invalid_argument(
        fmt::format("invalid UTF-8 at byte offset {}: {} (lead byte 0x{:02x})", pos, why, lead));
  };
  if (lead < 0x80) {
    length = 1;
    return lead;
  }
  char32_t cp;
  char32_t min_cp;  // the smallest code point that needs this many bytes (smaller is "overlong")
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min_cp = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min_cp = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min_cp = 0x10000;
  } else if ((lead & 0xC0) == 0x80) {
    throw fail("a continuation byte where a character should start");
  } else {
    throw fail("a byte that never appears in UTF-8");
  }
  if (pos + length > text.size()) throw fail("the text ends in the middle of a character");
  for (int i = 1; i < length; ++i) {
    const unsigned char next = byte_at(pos + i);
    if ((next & 0xC0) != 0x80) throw fail("a multi-byte character is cut short");
    cp = (cp << 6) | (next & 0x3F);
  }
  if (cp < min_cp) throw fail("an overlong encoding");
  if (cp >= 0xD800 && cp <= 0xDFFF) throw fail("a UTF-16 surrogate code point");
  if (cp > 0x10FFFF) throw fail("a code point above U+10FFFF");
  return cp;
}

// Appends the UTF-8 bytes of code point `cp` (assumed valid) to `out`.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Whether a code point shows as a visible glyph (not a control or space character).
inline bool is_visible(char32_t cp) { return (cp > 0x20 && cp < 0x7F) || cp >= 0xA0; }

// A code point for error messages: 'é' (U+00E9), '\n' (U+000A), (U+0007).
inline std::string describe_code_point(char32_t cp) {
  const std::string code = fmt::format("U+{:04X}", static_cast<uint32_t>(cp));
  switch (cp) {
    case '\n': return "'\\n' (" + code + ")";
    case '\t': return "'\\t' (" + code + ")";
    case '\r': return "'\\r' (" + code + ")";
    case ' ': return "' ' (" + code + ")";
  }
  if (!is_visible(cp)) return "(" + code + ")";
  std::string glyph;
  append_utf8(glyph, cp);
  return "'" + glyph + "' (" + code + ")";
}

// Text made safe for a terminal: valid UTF-8 of visible characters, spaces,
// newlines and tabs passes unchanged; control characters (including ESC,
// which starts terminal escape sequences) become \xNN with the code point,
// and bytes that are not valid UTF-8 (a byte-level BPE sample can end in
// the middle of a character) become \xNN with the byte.
inline std::string printable_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    int length = 1;
    char32_t cp = 0;
    bool valid = true;
    try {
      cp = decode_utf8(text, pos, length);
    } catch (const std::invalid_argument&) {
      valid = false;
    }
    if (!valid) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[pos]));
      pos += 1;
      continue;
    }
    if (is_visible(cp) || cp == ' ' || cp == '\n' || cp == '\t')
      out.append(text.substr(pos, static_cast<size_t>(length)));
    else  // C0 and C1 controls and DEL: all below U+00A0
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(cp));
    pos += static_cast<size_t>(length);
  }
  return out;
}

}  // namespace mhc
