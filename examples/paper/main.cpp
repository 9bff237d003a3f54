// One paper model as its own program (tpt-baseline, tpt-ros, tpt-rus, tpt-ros-rus-15k,
// tpt-ros-rus-5k): built once per model with TPT_PAPER_MODEL naming it.
#include "paper_models.hpp"

#ifndef TPT_PAPER_MODEL
#error "TPT_PAPER_MODEL must name the model (baseline, ros, rus, ros-rus-15k, ros-rus-5k)"
#endif

int main(int argc, char** argv) {
  using namespace tpt::examples;
  const std::string model = TPT_PAPER_MODEL;
  const std::string program = "tpt-" + model;
  int status = 0;
  const auto options = parse_experiment_options(
      argc, argv, program,
      fmt::format("train the paper's {} model (two-phase training, Malik et al. 2021) and report on the test split",
                  model),
      /*grid=*/false, status);
  if (!options) return status;
  return report_errors(program, [&] { return run_experiments(program, *options, select_models({model})); });
}
