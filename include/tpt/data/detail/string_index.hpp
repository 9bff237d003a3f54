// Compact string storage and lookup for millions of short ids (image ids, file names): an arena
// that stores strings back to back, and an open-addressing index from string to position. A
// node-based std::unordered_map spent most of a 7-million-image read in cache misses and malloc.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace tpt::data::detail {

/// Stable storage for strings: views stay valid for the arena's lifetime.
class string_arena {
 public:
  std::string_view store(std::string_view s) {
    if (s.empty()) return {};
    if (s.size() > block_ - used_) {
      const std::size_t size = std::max(block_size, s.size());
      blocks_.push_back(std::make_unique<char[]>(size));
      block_ = size;
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::memcpy(at, s.data(), s.size());
    used_ += s.size();
    return {at, s.size()};
  }

 private:
  static constexpr std::size_t block_size = std::size_t{1} << 20;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t block_ = 0;
  std::size_t used_ = 0;
};

/// 64-bit hash of a short string, eight bytes per step (ids are 10-60 bytes).
inline std::uint64_t hash_string(std::string_view s) noexcept {
  constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ULL, k2 = 0xC2B2AE3D27D4EB4FULL;
  std::uint64_t h = 0x243F6A8885A308D3ULL ^ (s.size() * k2);
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = std::rotl(h ^ (w * k1), 31) * k2;
  }
  std::uint64_t tail = 0;
  for (std::size_t k = 0; i < s.size(); ++i, k += 8) tail |= std::uint64_t{static_cast<unsigned char>(s[i])} << k;
  h = std::rotl(h ^ (tail * k1), 31) * k2;
  h ^= h >> 32;
  h *= k1;
  return h ^ (h >> 29);
}

/// Maps strings (kept alive by the caller, e.g. in a string_arena) to 0, 1, 2, ... in insertion
/// order. Linear probing over 8-byte slots holding a hash tag and the position.
class string_index {
 public:
  static constexpr std::uint32_t npos = 0xFFFFFFFFu;

  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
  [[nodiscard]] std::string_view key(std::uint32_t i) const noexcept { return keys_[i]; }

  [[nodiscard]] std::uint32_t find(std::string_view key) const noexcept {
    if (slots_.empty()) return npos;
    const std::uint64_t h = hash_string(key);
    const std::uint32_t tag = tag_of(h);
    for (std::size_t at = h & mask_;; at = (at + 1) & mask_) {
      const slot& s = slots_[at];
      if (s.tag == 0) return npos;
      if (s.tag == tag && keys_[s.value] == key) return s.value;
    }
  }

  /// The position of `key`, adding it when new (`added` tells which happened). A new key is
  /// copied into `storage` when given; without it, `key` itself must outlive the index.
  std::uint32_t insert(std::string_view key, bool& added, string_arena* storage = nullptr) {
    if ((keys_.size() + 1) * 10 > slots_.size() * 7) grow();
    const std::uint64_t h = hash_string(key);
    const std::uint32_t tag = tag_of(h);
    for (std::size_t at = h & mask_;; at = (at + 1) & mask_) {
      slot& s = slots_[at];
      if (s.tag == 0) {
        s.tag = tag;
        s.value = static_cast<std::uint32_t>(keys_.size());
        keys_.push_back(storage ? storage->store(key) : key);
        added = true;
        return s.value;
      }
      if (s.tag == tag && keys_[s.value] == key) {
        added = false;
        return s.value;
      }
    }
  }

 private:
  struct slot {
    std::uint32_t tag = 0;  // 0: empty
    std::uint32_t value = 0;
  };
  static std::uint32_t tag_of(std::uint64_t h) noexcept {
    const auto t = static_cast<std::uint32_t>(h >> 32);
    return t == 0 ? 1 : t;
  }
  void grow() {
    const std::size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
    std::vector<slot> fresh(capacity);
    const std::size_t mask = capacity - 1;
    for (std::uint32_t v = 0; v < keys_.size(); ++v) {
      const std::uint64_t h = hash_string(keys_[v]);
      std::size_t at = h & mask;
      while (fresh[at].tag != 0) at = (at + 1) & mask;
      fresh[at] = {tag_of(h), v};
    }
    slots_ = std::move(fresh);
    mask_ = mask;
  }

  std::vector<slot> slots_;
  std::vector<std::string_view> keys_;
  std::size_t mask_ = 0;
};

}  // namespace tpt::data::detail
