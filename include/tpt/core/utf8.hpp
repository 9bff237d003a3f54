// UTF-8 validity, for text that must go into JSON or XML unchanged: file names from a camera card
// (Latin-1 bytes are legal in a Linux file name, not in JSON) and class names from CSV files.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tpt::utf8 {

/// The length of the well-formed UTF-8 sequence that starts at text[i] (1 for ASCII), or 0 when
/// the bytes there are not one: a stray continuation byte, an overlong form, a UTF-16 surrogate,
/// a code point above U+10FFFF, or a sequence cut short.
[[nodiscard]] constexpr std::size_t sequence_length(std::string_view text, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return 1;
  const std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  const auto c1 = static_cast<unsigned char>(text[i + 1]);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))
    return 0;
  return n;
}

/// Whether all of `text` is well-formed UTF-8.
[[nodiscard]] constexpr bool valid(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = sequence_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

/// `text` with every byte that is not part of well-formed UTF-8 shown as \xHH, for messages that
/// must name such a string.
[[nodiscard]] inline std::string shown(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = sequence_length(text, i);
    if (n == 0) {
      out += fmt::format("\\x{:02X}", static_cast<unsigned char>(text[i]));
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace tpt::utf8
