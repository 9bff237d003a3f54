// The Snapshot Serengeti season-9 class distribution of Malik et al. (2021): 52 species with
// their training and test image counts. A copy of the source table is
// tests/data/sampling/serengeti_s9_counts.csv; a test checks the two agree.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace tpt::serengeti {

struct species_count {
  std::string_view species;  // the label as LILA's metadata spells it
  std::int64_t train;
  std::int64_t test;
};

/// Season 9 after the paper's filtering (single-species images; no empty, blank or human
/// images), most frequent species first.
inline constexpr std::array<species_count, 52> season9{{
    {"wildebeest", 48377, 6047},
    {"zebra", 36480, 4560},
    {"gazelleThomsons", 30368, 3795},
    {"elephant", 4761, 594},
    {"buffalo", 3920, 490},
    {"warthog", 3730, 466},
    {"giraffe", 3145, 392},
    {"gazelleGrants", 2857, 357},
    {"impala", 2746, 343},
    {"otherBird", 2380, 297},
    {"hartebeest", 2368, 295},
    {"hyenaSpotted", 2119, 264},
    {"guineaFowl", 1516, 189},
    {"lionFemale", 1207, 150},
    {"topi", 1204, 150},
    {"baboon", 1003, 125},
    {"secretaryBird", 735, 90},
    {"eland", 723, 90},
    {"hippopotamus", 608, 76},
    {"dikDik", 590, 73},
    {"ostrich", 478, 59},
    {"cheetah", 470, 58},
    {"reedbuck", 462, 57},
    {"koriBustard", 435, 54},
    {"insectSpider", 385, 47},
    {"jackal", 383, 47},
    {"lionMale", 294, 36},
    {"serval", 242, 30},
    {"hare", 220, 27},
    {"mongoose", 168, 21},
    {"porcupine", 120, 14},
    {"vervetMonkey", 118, 12},
    {"batEaredFox", 96, 11},
    {"aardvark", 88, 10},
    {"waterbuck", 78, 9},
    {"aardwolf", 73, 9},
    {"leopard", 48, 5},
    {"bushbuck", 34, 4},
    {"vulture", 32, 4},
    {"duiker", 29, 3},
    {"hyenaStriped", 29, 3},
    {"cattle", 27, 3},
    {"reptiles", 17, 2},
    {"rhinoceros", 15, 1},
    {"steenbok", 15, 1},
    {"honeyBadger", 14, 1},
    {"caracal", 14, 1},
    {"civet", 11, 1},
    {"wildcat", 8, 1},
    {"genet", 8, 1},
    {"zorilla", 5, 1},
    {"rodents", 1, 1},
}};

inline constexpr std::int64_t season9_train_total = 155254;
inline constexpr std::int64_t season9_test_total = 19377;

namespace detail {
constexpr bool totals_match() {
  std::int64_t train = 0, test = 0;
  for (const auto& s : season9) {
    train += s.train;
    test += s.test;
  }
  return train == season9_train_total && test == season9_test_total;
}
}  // namespace detail
static_assert(detail::totals_match(), "the season-9 table must add up to the paper's totals");

/// The size of the largest class (wildebeest): the reference the paper presets scale against.
inline constexpr std::int64_t season9_largest_train = season9.front().train;

}  // namespace tpt::serengeti
