// tpt-grid: the paper's experiment grid. Any subset of the five models, several seeds and losses,
// on a dataset (long-tailed Fashion-MNIST by default); writes the paper-style report and figures.
#include "../paper/paper_models.hpp"

int main(int argc, char** argv) {
  using namespace tpt::examples;
  int status = 0;
  const auto options = parse_experiment_options(
      argc, argv, "tpt-grid",
      "run the paper's experiment grid (baseline, ROS, RUS, ROS&RUS(15K), ROS&RUS(5K)) and write a report comparing "
      "phase 1 with phase 2 and every model with the baseline",
      /*grid=*/true, status);
  if (!options) return status;
  return report_errors("tpt-grid", [&] { return run_experiments("tpt-grid", *options, select_models(options->models)); });
}
