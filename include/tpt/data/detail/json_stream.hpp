// Streaming a JSON document too big for one simdjson parse (simdjson stops at 4 GB; the Snapshot
// Serengeti metadata is 5.2 GB): a small scanner walks the top-level object and its arrays in
// chunks read from disk, and hands out one element at a time, padded for simdjson. Memory stays
// at the chunk size whatever the file size.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>
#include <simdjson.h>

#include "tpt/core/error.hpp"

namespace tpt::data::detail {

/// 1-based line numbers of byte offsets in a file (offsets in any order). Counted only when an
/// error is reported, so the happy path never pays for them.
inline std::vector<std::size_t> lines_at(const std::filesystem::path& file,
                                         const std::vector<std::uint64_t>& offsets) {
  std::vector<std::size_t> order(offsets.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return offsets[a] < offsets[b]; });
  std::vector<std::size_t> lines(offsets.size(), 0);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lines;
  std::vector<char> buf(std::size_t{1} << 20);
  std::uint64_t at = 0;
  std::size_t line = 1;
  std::size_t next = 0;
  while (next < order.size()) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got <= 0) break;
    const auto n = static_cast<std::uint64_t>(got);
    std::uint64_t pos = 0;
    while (next < order.size() && offsets[order[next]] < at + n) {
      const auto stop = offsets[order[next]] - at;
      line += static_cast<std::size_t>(std::count(buf.data() + pos, buf.data() + stop, '\n'));
      pos = stop;
      lines[order[next++]] = line;
    }
    line += static_cast<std::size_t>(std::count(buf.data() + pos, buf.data() + n, '\n'));
    at += n;
  }
  for (; next < order.size(); ++next) lines[order[next]] = line;
  ::close(fd);
  return lines;
}

/// A value of the document, in the scanner's buffer: valid until the next call on the stream.
/// The bytes after it are readable for at least simdjson::SIMDJSON_PADDING, as simdjson needs.
struct json_slice {
  const char* data = nullptr;
  std::size_t size = 0;
  std::uint64_t offset = 0;  ///< byte offset in the file
};

/// Reads a JSON document whose top level is an object, member by member; array members can be
/// walked element by element. Every structural error (truncation, a missing ',' or ':',
/// mismatched brackets, content after the document) is a tpt::input_error with the file, the
/// line, the byte offset and what was expected. The scanner only finds value boundaries; the
/// values themselves are validated by simdjson when the caller parses them.
class json_stream {
 public:
  /// Values larger than this are refused (an element of a COCO array is a few hundred bytes).
  static constexpr std::size_t max_value_bytes = std::size_t{1} << 30;
  static constexpr std::size_t max_depth = 1024;

  explicit json_stream(std::filesystem::path file, std::size_t chunk_bytes = std::size_t{16} << 20)
      : file_(std::move(file)), chunk_(std::max<std::size_t>(chunk_bytes, 1)) {
    std::error_code ec;
    if (!std::filesystem::exists(file_, ec)) throw input_error(file_, "no such file");
    if (std::filesystem::is_directory(file_, ec)) throw input_error(file_, "is a folder, expected a JSON file");
    fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw input_error(file_, fmt::format("cannot open for reading: {}", std::strerror(errno)));
    allocate(chunk_);
  }
  ~json_stream() {
    if (fd_ >= 0) ::close(fd_);
  }
  json_stream(const json_stream&) = delete;
  json_stream& operator=(const json_stream&) = delete;

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
  /// Byte offset of the next unread character.
  [[nodiscard]] std::uint64_t offset() const noexcept { return base_ + pos_; }

  /// Throw tpt::input_error for the byte at `at`: "file:LINE: byte N: what".
  [[noreturn]] void fail(std::uint64_t at, const std::string& what) const {
    const auto line = lines_at(file_, {at}).front();
    throw input_error(file_, line, fmt::format("byte {}: {}", at, what));
  }

  /// The opening '{' of the document (after an optional UTF-8 byte order mark).
  void begin_document() {
    if (fill_to(pos_ + 3) && std::memcmp(buf_.get() + pos_, "\xEF\xBB\xBF", 3) == 0) pos_ += 3;
    const int c = skip_whitespace();
    if (c < 0) fail(offset(), "the file is empty, expected a JSON object ('{')");
    if (c != '{')
      fail(offset(), fmt::format("expected a JSON object ('{{') at the top level, got {}", describe(c)));
    ++pos_;
    member_count_ = 0;
  }

  /// The next member's key, or nullopt after the closing '}' of the document. Leaves the stream
  /// at the member's value.
  std::optional<std::string> next_key() {
    int c = skip_whitespace();
    if (member_count_ > 0) {
      if (c == '}') {
        ++pos_;
        return std::nullopt;
      }
      if (c != ',')
        fail(offset(), fmt::format("{}expected ',' or '}}' after the value of '{}', got {}",
                                   c < 0 ? "unexpected end of file: " : "", last_key_, describe(c)));
      ++pos_;
      c = skip_whitespace();
    } else if (c == '}') {
      ++pos_;
      return std::nullopt;
    }
    if (c != '"')
      fail(offset(), fmt::format("{}expected a member name (a string) in the top-level object, got {}",
                                 c < 0 ? "unexpected end of file: " : "", describe(c)));
    const json_slice key = capture_value();
    std::string name = decode_string(key);
    c = skip_whitespace();
    if (c != ':')
      fail(offset(), fmt::format("{}expected ':' after member name '{}', got {}",
                                 c < 0 ? "unexpected end of file: " : "", name, describe(c)));
    ++pos_;
    c = skip_whitespace();
    if (c < 0) fail(offset(), fmt::format("unexpected end of file: expected the value of '{}'", name));
    ++member_count_;
    last_key_ = name;
    return name;
  }

  /// First character of the value the stream is at (after whitespace); -1 at end of file.
  int peek() { return skip_whitespace(); }

  /// Enter the array the stream is at; next_element() then walks it.
  void begin_array() {
    const int c = skip_whitespace();
    if (c != '[') fail(offset(), fmt::format("expected an array ('['), got {}", describe(c)));
    ++pos_;
    element_count_ = 0;
  }

  /// The next element of the current array, or nullopt after its closing ']'.
  std::optional<json_slice> next_element() {
    int c = skip_whitespace();
    if (element_count_ > 0) {
      if (c == ']') {
        ++pos_;
        return std::nullopt;
      }
      if (c != ',')
        fail(offset(), fmt::format("{}expected ',' or ']' after element {} of '{}', got {}",
                                   c < 0 ? "unexpected end of file: " : "", element_count_ - 1,
                                   last_key_, describe(c)));
      ++pos_;
      c = skip_whitespace();
      if (c == ']') fail(offset(), fmt::format("expected a value after ',' in '{}', got ']'", last_key_));
    } else if (c == ']') {
      ++pos_;
      return std::nullopt;
    }
    if (c < 0)
      fail(offset(), fmt::format("unexpected end of file inside the array '{}' (expected a value or ']')",
                                 last_key_));
    ++element_count_;
    return capture_value();
  }

  /// The whole value the stream is at.
  json_slice capture_value() {
    const int c = skip_whitespace();
    if (c < 0) fail(offset(), "unexpected end of file, expected a value");
    check_value_start(c);
    const std::size_t start = scan(true);
    json_slice out{buf_.get() + start, pos_ - start, base_ + start};
    return out;
  }

  /// Step over the value the stream is at without keeping it (any size).
  void skip_value() {
    const int c = skip_whitespace();
    if (c < 0) fail(offset(), "unexpected end of file, expected a value");
    check_value_start(c);
    (void)scan(false);
  }

  /// After the document's closing '}': nothing but whitespace may follow.
  void end_document() {
    const int c = skip_whitespace();
    if (c >= 0)
      fail(offset(), fmt::format("unexpected {} after the end of the top-level object", describe(c)));
  }

 private:
  static bool is_space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  static std::string describe(int c) {
    if (c < 0) return "the end of the file";
    if (c >= 0x20 && c < 0x7F) return fmt::format("'{}'", static_cast<char>(c));
    return fmt::format("byte 0x{:02X}", c);
  }

  // The scanner's inner loops: the next byte that matters, 16 at a time where SSE2 exists. They
  // may read up to 15 bytes past `end`, which the buffer's padding makes safe.
#if defined(__SSE2__)
  template <class Match>
  static std::size_t first_match(const char* p, std::size_t i, std::size_t end, Match match) {
    while (i < end) {
      const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      const auto mask = static_cast<unsigned>(_mm_movemask_epi8(match(block)));
      if (mask != 0) return std::min(end, i + static_cast<std::size_t>(std::countr_zero(mask)));
      i += 16;
    }
    return end;
  }
  static std::size_t find_quote_or_backslash(const char* p, std::size_t i, std::size_t end) {
    return first_match(p, i, end, [](__m128i b) {
      return _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')), _mm_cmpeq_epi8(b, _mm_set1_epi8('\\')));
    });
  }
  static std::size_t find_structural(const char* p, std::size_t i, std::size_t end) {
    return first_match(p, i, end, [](__m128i b) {
      const __m128i brackets = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('{')), _mm_cmpeq_epi8(b, _mm_set1_epi8('}'))),
          _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('[')), _mm_cmpeq_epi8(b, _mm_set1_epi8(']'))));
      return _mm_or_si128(brackets, _mm_cmpeq_epi8(b, _mm_set1_epi8('"')));
    });
  }
#else
  static std::size_t find_quote_or_backslash(const char* p, std::size_t i, std::size_t end) {
    while (i < end && p[i] != '"' && p[i] != '\\') ++i;
    return i;
  }
  static std::size_t find_structural(const char* p, std::size_t i, std::size_t end) {
    while (i < end && p[i] != '"' && p[i] != '{' && p[i] != '}' && p[i] != '[' && p[i] != ']') ++i;
    return i;
  }
#endif

  void check_value_start(int c) const {
    if (c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
        c == 'f' || c == 'n')
      return;
    fail(offset(), fmt::format("expected a JSON value, got {}", describe(c)));
  }

  void allocate(std::size_t capacity) {
    auto fresh = std::unique_ptr<char[]>(new char[capacity + simdjson::SIMDJSON_PADDING]());
    if (buf_) std::memcpy(fresh.get(), buf_.get(), end_);
    buf_ = std::move(fresh);
    cap_ = capacity;
  }

  /// Drop the bytes before `keep_from` and read more. Returns false at end of file. Indices into
  /// the buffer shift down by keep_from.
  bool refill(std::size_t keep_from) {
    if (eof_) return false;
    if (keep_from > 0) {
      std::memmove(buf_.get(), buf_.get() + keep_from, end_ - keep_from);
      end_ -= keep_from;
      pos_ -= keep_from;
      base_ += keep_from;
    }
    if (end_ == cap_) {
      if (cap_ >= max_value_bytes)
        fail(base_, fmt::format("a value longer than {} bytes (expected small array elements)",
                                max_value_bytes));
      allocate(std::min(cap_ * 2, max_value_bytes));
    }
    while (true) {
      const ssize_t got = ::read(fd_, buf_.get() + end_, cap_ - end_);
      if (got > 0) {
        end_ += static_cast<std::size_t>(got);
        return true;
      }
      if (got == 0) {
        eof_ = true;
        return false;
      }
      if (errno != EINTR)
        throw input_error(file_, fmt::format("read failed at byte {}: {}", base_ + end_,
                                             std::strerror(errno)));
    }
  }

  /// Make at least `want` bytes available (as far as the file has them).
  bool fill_to(std::size_t want) {
    while (end_ < want)
      if (!refill(0)) return false;
    return true;
  }

  int skip_whitespace() {
    while (true) {
      while (pos_ < end_ && is_space(buf_[pos_])) ++pos_;
      if (pos_ < end_) return static_cast<unsigned char>(buf_[pos_]);
      if (!refill(pos_)) return -1;
    }
  }

  /// Scan the value at pos_ to its end. Keeping (`keep`), the value stays in the buffer and its
  /// start index is returned; otherwise consumed bytes are dropped as the scan goes.
  std::size_t scan(bool keep) {
    std::size_t start = pos_;
    const std::uint64_t start_offset = base_ + pos_;
    const char first = buf_[pos_];
    std::size_t i = pos_;
    if (first != '{' && first != '[' && first != '"') {
      // A number or literal: up to the next delimiter (simdjson checks its spelling).
      while (true) {
        while (i < end_ && !is_space(buf_[i]) && buf_[i] != ',' && buf_[i] != ']' && buf_[i] != '}')
          ++i;
        if (i < end_) break;
        pos_ = i;
        const std::size_t keep_from = keep ? start : i;
        if (!refill(keep_from)) break;
        i -= keep_from;
        start = keep ? 0 : start;
      }
      pos_ = i;
      return start;
    }
    stack_.clear();
    bool in_string = false;
    while (true) {
      const char* p = buf_.get();
      const std::size_t end = end_;
      while (i < end) {
        if (in_string) {
          // Find the closing quote; a backslash skips the character after it (which may still be
          // unread: i then points past end and the next refill supplies it).
          i = find_quote_or_backslash(p, i, end);
          if (i >= end) break;
          if (p[i] == '\\') {
            i += 2;
            continue;
          }
          ++i;
          in_string = false;
          if (stack_.empty()) {
            pos_ = i;
            return start;
          }
          continue;
        }
        i = find_structural(p, i, end);
        if (i >= end) break;
        const char c = p[i++];
        if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          if (stack_.size() >= max_depth)
            fail(base_ + i - 1, fmt::format("nesting deeper than {} levels", max_depth));
          stack_.push_back(c);
        } else if (c == '}' || c == ']') {
          const char open = c == '}' ? '{' : '[';
          if (stack_.empty() || stack_.back() != open)
            fail(base_ + i - 1,
                 stack_.empty()
                     ? fmt::format("unexpected '{}'", c)
                     : fmt::format("expected '{}' to close the {} opened earlier, got '{}'",
                                   stack_.back() == '{' ? '}' : ']',
                                   stack_.back() == '{' ? "object" : "array", c));
          stack_.pop_back();
          if (stack_.empty()) {
            pos_ = i;
            return start;
          }
        }
      }
      // Out of data inside the value.
      const std::size_t keep_from = keep ? start : std::min(i, end_);
      pos_ = keep_from;
      if (!refill(keep_from)) {
        fail(base_ + end_, fmt::format("unexpected end of file: {} that starts at byte {} is not "
                                       "closed (expected {})",
                                       in_string ? "a string" : stack_.back() == '{' ? "an object" : "an array",
                                       start_offset,
                                       in_string ? "'\"'" : stack_.back() == '{' ? "'}'" : "']'"));
      }
      i -= keep_from;
      start = keep ? 0 : start;
    }
  }

  /// A key's text: taken as is unless it holds escapes, which simdjson decodes.
  std::string decode_string(const json_slice& s) const {
    const std::string_view raw(s.data + 1, s.size - 2);
    if (raw.find('\\') == std::string_view::npos) return std::string(raw);
    simdjson::dom::parser parser;
    std::string_view value;
    if (parser.parse(s.data, s.size, false).get_string().get(value) != simdjson::SUCCESS)
      fail(s.offset, "invalid escape in a member name");
    return std::string(value);
  }

  std::filesystem::path file_;
  std::size_t chunk_;
  int fd_ = -1;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;   // usable bytes (the allocation adds simdjson's padding)
  std::size_t end_ = 0;   // valid bytes in the buffer
  std::size_t pos_ = 0;   // next unread byte
  std::uint64_t base_ = 0;  // file offset of buf_[0]
  bool eof_ = false;
  std::vector<char> stack_;
  std::size_t member_count_ = 0;
  std::size_t element_count_ = 0;
  std::string last_key_;
};

}  // namespace tpt::data::detail
