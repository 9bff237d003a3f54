// tpt: two-phase training for class-imbalanced image classification. The umbrella header:
// include this for everything, or the header of one concern (tpt/sampling/..., tpt/model/...).
#pragma once

#include "tpt/version.hpp"

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"

#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"

#include "tpt/model/checkpoint.hpp"
#include "tpt/model/classifier_model.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/model/weights.hpp"

#include "tpt/freeze/freezer.hpp"
#include "tpt/freeze/policies.hpp"
#include "tpt/data/array_dataset.hpp"
#include "tpt/data/coco_camera_traps.hpp"
#include "tpt/data/fashion_mnist.hpp"
#include "tpt/data/folder_source.hpp"
#include "tpt/data/long_tail.hpp"
#include "tpt/data/manifest.hpp"
#include "tpt/data/records.hpp"
#include "tpt/data/split.hpp"

#include "tpt/report/svg.hpp"

#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/report.hpp"
#include "tpt/sampling/sampler.hpp"
#include "tpt/sampling/serengeti.hpp"

#include "tpt/data/augment.hpp"
#include "tpt/data/augmented_dataset.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/data/loader.hpp"
#include "tpt/data/preflight.hpp"
#include "tpt/data/resize.hpp"
#include "tpt/metrics/classification_metrics.hpp"
#include "tpt/metrics/classification_report.hpp"
#include "tpt/metrics/metric.hpp"
#include "tpt/metrics/statistics.hpp"

#include "tpt/report/experiment_record.hpp"
#include "tpt/report/figures.hpp"
#include "tpt/report/paper.hpp"
#include "tpt/report/svg.hpp"
#include "tpt/report/table.hpp"
#include "tpt/report/tables.hpp"
#include "tpt/report/write_report.hpp"

#include "tpt/predict/crop.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/prediction.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt/predict/run.hpp"
#include "tpt/predict/scores.hpp"
