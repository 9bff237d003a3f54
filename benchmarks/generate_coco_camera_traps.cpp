// Writes a synthetic COCO Camera Traps file shaped like LILA's Snapshot Serengeti v2.1 metadata
// (5.2 GB, 7.1 million images over seasons S1..S11), for bench_coco_camera_traps. Images carry
// id, file_name (S1/B04/B04_R1/S1_B04_R1_PICT0001.JPG), frame_num, seq_id, location, datetime;
// capture events have 1-3 frames; annotations are per image and species, as LILA's are; about
// 73% of events are 'empty', some 'human', some hold two species; species follow the paper's
// season-9 frequencies. Deterministic for a seed.
//
//   generate_coco_camera_traps OUT.json [--images N] [--seed S] [--annotations-first]
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/random.hpp"

namespace {

struct species {
  const char* name;
  std::uint64_t weight;
};

// Snapshot Serengeti season 9 images per species, train + test (the paper's class distribution,
// ../shared/paper/serengeti_s9_counts.csv).
constexpr species s9_species[] = {
    {"wildebeest", 54424}, {"zebra", 41040}, {"gazelleThomsons", 34163}, {"elephant", 5355},
    {"buffalo", 4410}, {"warthog", 4196}, {"giraffe", 3537}, {"gazelleGrants", 3214},
    {"impala", 3089}, {"otherBird", 2677}, {"hartebeest", 2663}, {"hyenaSpotted", 2383},
    {"guineaFowl", 1705}, {"lionFemale", 1357}, {"topi", 1354}, {"baboon", 1128},
    {"secretaryBird", 825}, {"eland", 813}, {"hippopotamus", 684}, {"dikDik", 663},
    {"ostrich", 537}, {"cheetah", 528}, {"reedbuck", 519}, {"koriBustard", 489},
    {"insectSpider", 432}, {"jackal", 430}, {"lionMale", 330}, {"serval", 272}, {"hare", 247},
    {"mongoose", 189}, {"porcupine", 134}, {"vervetMonkey", 130}, {"batEaredFox", 107},
    {"aardvark", 98}, {"waterbuck", 87}, {"aardwolf", 82}, {"leopard", 53}, {"bushbuck", 38},
    {"vulture", 36}, {"duiker", 32}, {"hyenaStriped", 32}, {"cattle", 30}, {"reptiles", 19},
    {"rhinoceros", 16}, {"steenbok", 16}, {"honeyBadger", 15}, {"caracal", 15}, {"civet", 12},
    {"wildcat", 9}, {"genet", 9}, {"zorilla", 6}, {"rodents", 2}};
constexpr std::size_t num_species = std::size(s9_species);
// Category ids: 0 empty, 1 human, 2.. the species above.
constexpr std::int64_t empty_id = 0, human_id = 1;

// Relative season sizes (S1..S11).
constexpr double season_weight[11] = {0.6, 0.7, 0.9, 0.9, 1.0, 1.0, 1.1, 1.0, 1.1, 1.0, 0.7};

class writer {
 public:
  explicit writer(const char* path) : f_(std::fopen(path, "wb")) {
    if (!f_) {
      std::perror(path);
      std::exit(1);
    }
    buf_.reserve(chunk + 4096);
  }
  ~writer() { close(); }
  void close() {
    if (!f_) return;
    flush();
    if (std::fclose(f_) != 0) {
      std::perror("close");
      std::exit(1);
    }
    f_ = nullptr;
  }
  writer& operator<<(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= chunk) flush();
    return *this;
  }
  writer& operator<<(std::int64_t v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
    return *this;
  }
  /// Zero-padded to `width` digits.
  writer& padded(std::int64_t v, int width) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    for (int k = static_cast<int>(r.ptr - tmp); k < width; ++k) buf_.push_back('0');
    buf_.append(tmp, r.ptr);
    return *this;
  }
  writer& hex(std::uint64_t v, int digits) {
    static constexpr char d[] = "0123456789abcdef";
    for (int k = digits - 1; k >= 0; --k) buf_.push_back(d[(v >> (4 * k)) & 15]);
    return *this;
  }
  [[nodiscard]] std::uint64_t written() const { return written_ + buf_.size(); }

 private:
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      std::perror("write");
      std::exit(1);
    }
    written_ += buf_.size();
    buf_.clear();
  }
  static constexpr std::size_t chunk = std::size_t{8} << 20;
  std::FILE* f_;
  std::string buf_;
  std::uint64_t written_ = 0;
};

struct event {
  int season;
  int site;   // index into sites
  int roll;   // 1..12
  std::int64_t first_picture;
  std::int64_t seq_number;
  int frames;
  std::int64_t categories[2];
  int num_categories;
  std::int64_t time;  // seconds since 2010-07-01 00:00:00
};

constexpr int num_sites = 225;
constexpr int num_rolls = 12;

std::string site_name(int site) {
  return fmt::format("{}{:02}", static_cast<char>('B' + site / 15), 1 + site % 15);
}

/// The capture events, drawn in the same order on every pass.
class events {
 public:
  events(std::uint64_t seed, std::int64_t images) : gen_(seed), images_(images) {
    double total = 0;
    for (double w : season_weight) total += w;
    std::int64_t given = 0;
    for (int s = 0; s < 11; ++s) {
      per_season_[s] = static_cast<std::int64_t>(static_cast<double>(images) * season_weight[s] / total);
      given += per_season_[s];
    }
    per_season_[10] += images - given;
    std::uint64_t acc = 0;
    for (const auto& sp : s9_species) cumulative_.push_back(acc += sp.weight);
    reset_season();
  }

  bool next(event& e) {
    while (season_ < 11 && done_in_season_ >= per_season_[season_]) {
      ++season_;
      reset_season();
    }
    if (season_ >= 11) return false;
    e.season = season_ + 1;
    e.site = static_cast<int>(gen_.uniform_index(num_sites));
    e.roll = 1 + static_cast<int>(gen_.uniform_index(num_rolls));
    const double f = gen_.uniform01();
    e.frames = f < 0.85 ? 3 : f < 0.95 ? 1 : 2;
    e.frames = static_cast<int>(std::min<std::int64_t>(e.frames, per_season_[season_] - done_in_season_));
    auto& counter = counters_[static_cast<std::size_t>(e.site * num_rolls + e.roll - 1)];
    e.first_picture = counter.picture + 1;
    e.seq_number = ++counter.sequence;
    counter.picture += e.frames;
    const double c = gen_.uniform01();
    e.num_categories = 1;
    if (c < 0.73) {
      e.categories[0] = empty_id;
    } else if (c < 0.745) {
      e.categories[0] = human_id;
    } else {
      e.categories[0] = draw_species();
      if (c < 0.76) {
        e.categories[1] = draw_species();
        if (e.categories[1] != e.categories[0]) e.num_categories = 2;
      }
    }
    time_ += 1 + static_cast<std::int64_t>(gen_.uniform_index(600));
    e.time = time_;
    done_in_season_ += e.frames;
    return true;
  }

 private:
  struct counter {
    std::int64_t picture = 0;
    std::int64_t sequence = 0;
  };
  void reset_season() {
    done_in_season_ = 0;
    counters_.assign(num_sites * num_rolls, counter{});
  }
  std::int64_t draw_species() {
    const auto r = gen_.uniform_index(cumulative_.back());
    std::size_t lo = 0, hi = cumulative_.size() - 1;
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (r < cumulative_[mid]) hi = mid;
      else lo = mid + 1;
    }
    return static_cast<std::int64_t>(lo) + 2;
  }

  tpt::rng gen_;
  std::int64_t images_;
  std::array<std::int64_t, 11> per_season_{};
  int season_ = 0;
  std::int64_t done_in_season_ = 0;
  std::vector<counter> counters_;
  std::vector<std::uint64_t> cumulative_;
  std::int64_t time_ = 0;
};

void datetime(writer& w, std::int64_t t) {
  // A calendar good enough for synthetic data: 30-day months from 2010-01-01.
  const std::int64_t day = t / 86400, sec = t % 86400;
  const std::int64_t year = 2010 + day / 360, month = 1 + (day / 30) % 12, dom = 1 + day % 30;
  w << "\"";
  w << year << "-";
  w.padded(month, 2) << "-";
  w.padded(dom, 2) << " ";
  w.padded(sec / 3600, 2) << ":";
  w.padded(sec / 60 % 60, 2) << ":";
  w.padded(sec % 60, 2) << "\"";
}

/// S1/B04/B04_R1/S1_B04_R1_PICT0001 (the image id; the file name adds ".JPG").
void image_stem(writer& w, const event& e, const std::string& site, std::int64_t picture) {
  w << "S" << std::int64_t{e.season} << "/" << site << "/" << site << "_R" << std::int64_t{e.roll}
    << "/S" << std::int64_t{e.season} << "_" << site << "_R" << std::int64_t{e.roll} << "_PICT";
  w.padded(picture, 4);
}

void seq_id(writer& w, const event& e, const std::string& site) {
  w << "\"SER_S" << std::int64_t{e.season} << "#" << site << "#" << std::int64_t{e.roll} << "#"
    << e.seq_number << "\"";
}

void write_images(writer& w, std::uint64_t seed, std::int64_t n, std::vector<std::string>& sites) {
  w << "  \"images\": [";
  events ev(seed, n);
  event e{};
  bool first = true;
  while (ev.next(e)) {
    const std::string& site = sites[static_cast<std::size_t>(e.site)];
    for (int f = 0; f < e.frames; ++f) {
      w << (first ? "\n    {\n      \"id\": \"" : ",\n    {\n      \"id\": \"");
      first = false;
      image_stem(w, e, site, e.first_picture + f);
      w << "\",\n      \"file_name\": \"";
      image_stem(w, e, site, e.first_picture + f);
      w << ".JPG\",\n      \"frame_num\": " << std::int64_t{f + 1} << ",\n      \"seq_id\": ";
      seq_id(w, e, site);
      w << ",\n      \"season\": \"SER_S" << std::int64_t{e.season} << "\",\n      \"width\": 2048,\n      \"height\": 1536,\n      \"corrupt\": false,\n      \"location\": \""
        << site << "\",\n      \"seq_num_frames\": " << std::int64_t{e.frames} << ",\n      \"datetime\": ";
      datetime(w, e.time + f);
      w << "\n    }";
    }
  }
  w << "\n  ]";
}

void write_annotations(writer& w, std::uint64_t seed, std::int64_t n, std::vector<std::string>& sites,
                       std::int64_t& count) {
  w << "  \"annotations\": [";
  events ev(seed, n);
  event e{};
  bool first = true;
  std::uint64_t id_state = seed ^ 0x5EED;
  tpt::rng behaviour(seed + 1);
  while (ev.next(e)) {
    const std::string& site = sites[static_cast<std::size_t>(e.site)];
    const std::int64_t subject = 4189213 + count;
    for (int f = 0; f < e.frames; ++f) {
      for (int k = 0; k < e.num_categories; ++k) {
        w << (first ? "\n    {\n      \"sequence_level_annotation\": true,\n      \"id\": \""
                    : ",\n    {\n      \"sequence_level_annotation\": true,\n      \"id\": \"");
        first = false;
        w.hex(tpt::splitmix64(id_state), 16);
        w << "-";
        w.hex(tpt::splitmix64(id_state), 16);
        w << "\",\n      \"image_id\": \"";
        image_stem(w, e, site, e.first_picture + f);
        w << "\",\n      \"category_id\": " << e.categories[k] << ",\n      \"seq_id\": ";
        seq_id(w, e, site);
        w << ",\n      \"season\": \"SER_S" << std::int64_t{e.season} << "\",\n      \"location\": \"" << site
          << "\",\n      \"subject_id\": " << subject << ",\n      \"datetime\": ";
        datetime(w, e.time + f);
        if (e.categories[k] > human_id) {
          const auto animals = 1 + static_cast<std::int64_t>(behaviour.uniform_index(10));
          w << ",\n      \"count\": \"" << animals << "\",\n      \"standing\": 0."
            << static_cast<std::int64_t>(behaviour.uniform_index(10)) << ",\n      \"resting\": 0."
            << static_cast<std::int64_t>(behaviour.uniform_index(10)) << ",\n      \"moving\": 0."
            << static_cast<std::int64_t>(behaviour.uniform_index(10)) << ",\n      \"eating\": 0."
            << static_cast<std::int64_t>(behaviour.uniform_index(10)) << ",\n      \"interacting\": 0."
            << static_cast<std::int64_t>(behaviour.uniform_index(10)) << ",\n      \"young_present\": 0.0";
        }
        w << "\n    }";
        ++count;
      }
    }
  }
  w << "\n  ]";
}

void write_categories(writer& w) {
  w << "  \"categories\": [\n    {\n      \"id\": 0,\n      \"name\": \"empty\"\n    },\n    {\n      \"id\": 1,\n      \"name\": \"human\"\n    }";
  for (std::size_t s = 0; s < num_species; ++s)
    w << ",\n    {\n      \"id\": " << static_cast<std::int64_t>(s + 2) << ",\n      \"name\": \"" << s9_species[s].name
      << "\"\n    }";
  w << "\n  ]";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.json [--images N] [--seed S] [--annotations-first]\n", argv[0]);
    return 2;
  }
  const char* out = argv[1];
  std::int64_t images = 7'100'000;
  std::uint64_t seed = 9;
  bool annotations_first = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--images" && i + 1 < argc) images = std::atoll(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--annotations-first") annotations_first = true;
    else {
      std::fprintf(stderr, "unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> sites;
  for (int s = 0; s < num_sites; ++s) sites.push_back(site_name(s));
  writer w(out);
  std::int64_t annotations = 0;
  w << "{\n  \"info\": {\n    \"version\": \"2.1\",\n    \"description\": \"synthetic Snapshot Serengeti "
       "(tpt benchmarks/generate_coco_camera_traps)\",\n    \"date_created\": \"2019-08-19\",\n    "
       "\"contributor\": \"tpt\"\n  },\n";
  if (annotations_first) {
    write_categories(w);
    w << ",\n";
    write_annotations(w, seed, images, sites, annotations);
    w << ",\n";
    write_images(w, seed, images, sites);
  } else {
    write_images(w, seed, images, sites);
    w << ",\n";
    write_annotations(w, seed, images, sites, annotations);
    w << ",\n";
    write_categories(w);
  }
  w << "\n}\n";
  const auto bytes = w.written();
  w.close();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("wrote {}: {} images, {} annotations, {} categories, {:.2f} GB in {:.1f} s ({:.0f} MB/s)\n",
             out, images, annotations, num_species + 2, static_cast<double>(bytes) / 1e9, s,
             static_cast<double>(bytes) / 1e6 / s);
  return 0;
}
