// tpt: two-phase training for class-imbalanced image classification. The umbrella header:
// include this for everything, or the header of one concern (tpt/sampling/..., tpt/model/...).
#pragma once

#include "tpt/version.hpp"

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"

#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"

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
