# Every library the tpt target links, found once here and again (find_dependency) in tptConfig.
# Keep this list and cmake/tptConfig.cmake.in in step; tests/consumers checks the installed side.
# Imported targets are visible only in the directory that found them; a project that does
# add_subdirectory(tpt) links tpt::tpt from its own directory, so make them global.
set(CMAKE_FIND_PACKAGE_TARGETS_GLOBAL ON)

find_package(Threads REQUIRED)
find_package(Torch REQUIRED)            # LibTorch: tensors, autograd, nn, optimisers
find_package(fmt REQUIRED)              # formatting of logs, reports, error messages
find_package(range-v3 REQUIRED)         # in the design's package set: linked for code built on tpt (tpt uses std::ranges)
find_package(libjpeg-turbo REQUIRED)    # JPEG decode with DCT scaling (turbojpeg API)
find_package(PNG REQUIRED)              # PNG decode
find_package(ZLIB REQUIRED)             # CRC-32 checksums of the decoded image cache
find_package(simdjson REQUIRED)         # GB/s parsing of COCO Camera Traps metadata
find_package(nlohmann_json REQUIRED)    # small JSON documents: reports, checkpoints, MegaDetector
find_package(fccp REQUIRED)             # CSV manifests and label files

# fmt::fmt or fmt::fmt-header-only, after the LibTorch found (cmake/tptFmtTarget.cmake). Linked
# for the build only: the installed config decides again against the consumer's LibTorch.
include(tptFmtTarget)
tpt_fmt_target(TPT_FMT_TARGET)

set(TPT_DEPENDENCY_TARGETS
  torch
  $<BUILD_INTERFACE:${TPT_FMT_TARGET}>
  range-v3::range-v3
  libjpeg-turbo::turbojpeg
  PNG::PNG
  ZLIB::ZLIB
  simdjson::simdjson
  nlohmann_json::nlohmann_json
  Threads::Threads)
