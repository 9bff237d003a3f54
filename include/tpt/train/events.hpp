// What the trainer tells callbacks: one plain struct per hook.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tpt {

struct fit_begin_event {
  std::string run_name;          // e.g. "ROS seed 1"
  int start_phase = 1;           // > 1 or start_epoch > 0 when resuming from a checkpoint
  std::int64_t start_epoch = 0;
};

struct phase_begin_event {
  int phase = 1;
  std::int64_t epochs = 0;
  std::int64_t start_epoch = 0;          // > 0 when resumed mid-phase
  std::int64_t examples_per_epoch = 0;   // size of the phase's sampling plan
  std::int64_t batch_size = 0;
  std::int64_t trainable_parameters = 0;
  bool fast_path = false;                // phase 2 on precomputed features
};

struct batch_end_event {
  int phase = 1;
  std::int64_t epoch = 0, epochs = 0;    // 0-based epoch
  std::int64_t step = 0, steps = 0;      // 1-based step within the epoch
  double loss = 0;                       // this batch
  double mean_loss = 0;                  // running mean over the epoch so far
  std::int64_t images = 0;               // images seen this epoch
  double seconds = 0;                    // since the epoch began
};

/// One epoch's record; also what the JSON-lines and CSV logs write.
struct epoch_end_event {
  int phase = 1;
  std::int64_t epoch = 0, epochs = 0;
  double train_loss = 0;
  double learning_rate = 0;
  std::int64_t images = 0;
  double seconds = 0;             // the whole epoch, validation included
  double train_seconds = 0;       // the training steps alone
  double images_per_second = 0;   // images / train_seconds
  std::map<std::string, double> validation;  // the Metric's scalars on the validation split
  std::string monitor;                       // the early-stopping quantity, as validation names it
                                             // ("macro_f1" for a monitor "val_macro_f1")
  bool improved = false;                     // best so far on the monitor
  bool stop = false;                         // early stopping ends the phase after this epoch
};

struct phase_end_event {
  int phase = 1;
  std::int64_t epochs_run = 0;
  std::int64_t best_epoch = -1;
  double best_value = 0;
  bool stopped_early = false;
  bool restored_best = false;
  double seconds = 0;
  std::string monitor{};  // what best_value measures ("macro_f1", ...)
};

struct fit_end_event {
  double seconds = 0;
};

}  // namespace tpt
