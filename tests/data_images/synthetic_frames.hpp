// Synthetic camera-trap-like frames for tests and benchmarks: a sky-to-ground gradient, grass
// texture, a few animal- and tree-like shapes and sensor noise, deterministic from a seed. They
// compress like real photographs (quality 90 gives ~0.5-1 MB at 2048 x 1536), unlike pure noise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tpt/core/random.hpp"
#include "tpt/data/image.hpp"

namespace tpt::test {

inline tpt::data::image synthetic_frame(std::int64_t height, std::int64_t width, std::int64_t channels,
                                        std::uint64_t seed, double noise = 6.0) {
  tpt::rng gen(seed);
  tpt::data::image img(height, width, channels);
  const double horizon = height * gen.uniform(0.3, 0.5);
  const double sky[3] = {gen.uniform(120, 200), gen.uniform(150, 210), gen.uniform(190, 250)};
  const double ground[3] = {gen.uniform(70, 130), gen.uniform(80, 140), gen.uniform(30, 80)};
  // Separable low-frequency texture: cheap, and gives the DCT something besides flat areas.
  std::vector<double> tx(static_cast<std::size_t>(width)), ty(static_cast<std::size_t>(height));
  const double fx1 = gen.uniform(0.01, 0.05), fx2 = gen.uniform(0.1, 0.3);
  const double fy1 = gen.uniform(0.01, 0.05), fy2 = gen.uniform(0.1, 0.3);
  for (std::int64_t x = 0; x < width; ++x)
    tx[static_cast<std::size_t>(x)] = 10 * std::sin(fx1 * x) + 4 * std::sin(fx2 * x + 1.3);
  for (std::int64_t y = 0; y < height; ++y)
    ty[static_cast<std::size_t>(y)] = 10 * std::sin(fy1 * y + 0.7) + 4 * std::sin(fy2 * y);

  struct shape {
    double cx, cy, rx, ry, colour[3];
    bool ellipse;
  };
  std::vector<shape> shapes;
  const int n_shapes = 3 + static_cast<int>(gen.uniform_index(5));
  for (int i = 0; i < n_shapes; ++i) {
    shape s{};
    s.ellipse = gen.bernoulli(0.6);
    s.cx = gen.uniform(0, static_cast<double>(width));
    s.cy = gen.uniform(horizon * 0.8, static_cast<double>(height));
    s.rx = width * (s.ellipse ? gen.uniform(0.04, 0.15) : gen.uniform(0.01, 0.04));
    s.ry = height * (s.ellipse ? gen.uniform(0.04, 0.12) : gen.uniform(0.2, 0.5));
    for (double& c : s.colour) c = gen.uniform(20, 200);
    shapes.push_back(s);
  }

  std::vector<double> row(static_cast<std::size_t>(width * 3));
  for (std::int64_t y = 0; y < height; ++y) {
    const double t = std::clamp((y - horizon) / (height * 0.05) + 0.5, 0.0, 1.0);
    for (std::int64_t x = 0; x < width; ++x) {
      const double tex = (t > 0 ? 1.0 : 0.3) * (tx[static_cast<std::size_t>(x)] + ty[static_cast<std::size_t>(y)]);
      for (int c = 0; c < 3; ++c) row[static_cast<std::size_t>(x * 3 + c)] = sky[c] * (1 - t) + ground[c] * t + tex;
    }
    for (const shape& s : shapes) {
      const double dy = (y - s.cy) / s.ry;
      if (std::abs(dy) >= 1) continue;
      const double half = s.ellipse ? s.rx * std::sqrt(1 - dy * dy) : s.rx;
      const auto x0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(s.cx - half));
      const auto x1 = std::min<std::int64_t>(width, static_cast<std::int64_t>(s.cx + half));
      for (std::int64_t x = x0; x < x1; ++x)
        for (int c = 0; c < 3; ++c)
          row[static_cast<std::size_t>(x * 3 + c)] = s.colour[c] + 0.5 * tx[static_cast<std::size_t>(x)] + 8 * dy;
    }
    std::uint8_t* out = img.row(y);
    for (std::int64_t x = 0; x < width; ++x) {
      double px[3];
      for (int c = 0; c < 3; ++c) {
        const double n = noise * (gen.uniform01() + gen.uniform01() - 1.0);
        px[c] = std::clamp(row[static_cast<std::size_t>(x * 3 + c)] + n, 0.0, 255.0);
      }
      if (channels == 1) {
        out[x] = tpt::data::luma601(static_cast<std::uint8_t>(px[0] + 0.5), static_cast<std::uint8_t>(px[1] + 0.5),
                                    static_cast<std::uint8_t>(px[2] + 0.5));
      } else {
        for (int c = 0; c < 3; ++c) out[x * 3 + c] = static_cast<std::uint8_t>(px[c] + 0.5);
      }
    }
  }
  return img;
}

}  // namespace tpt::test
