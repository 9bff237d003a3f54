// tpt: two-phase training for class-imbalanced image classification. The umbrella header:
// include this for everything, or the header of one concern (tpt/sampling/..., tpt/model/...).
#pragma once

#include "tpt/version.hpp"

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"

#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"

#include "tpt/data/array_dataset.hpp"
#include "tpt/data/coco_camera_traps.hpp"
#include "tpt/data/fashion_mnist.hpp"
#include "tpt/data/folder_source.hpp"
#include "tpt/data/long_tail.hpp"
#include "tpt/data/manifest.hpp"
#include "tpt/data/records.hpp"
#include "tpt/data/split.hpp"

#include "tpt/report/svg.hpp"
