// tpt's version, kept equal to project(VERSION) in CMakeLists.txt (a test checks it).
#pragma once

#define TPT_VERSION_MAJOR 0
#define TPT_VERSION_MINOR 1
#define TPT_VERSION_PATCH 0

namespace tpt {
inline constexpr int version_major = TPT_VERSION_MAJOR;
inline constexpr int version_minor = TPT_VERSION_MINOR;
inline constexpr int version_patch = TPT_VERSION_PATCH;
inline constexpr const char* version_string = "0.1.0";
}  // namespace tpt
