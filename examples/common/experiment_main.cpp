// experiment_main: command line to report, for tpt-grid and the per-model programs.
#include "main.hpp"

#include <string>

#include "../paper/paper_models.hpp"

namespace tpt::examples {

int experiment_main(int argc, char** argv, std::string_view program_name, std::string_view model) {
  const std::string program(program_name);
  const bool grid = model.empty();
  const std::string summary =
      grid ? "run the paper's experiment grid (baseline, ROS, RUS, ROS&RUS(15K), ROS&RUS(5K)) and write a report "
             "comparing phase 1 with phase 2 and every model with the baseline"
           : fmt::format("train the paper's {} model (two-phase training, Malik et al. 2021) and report on the test "
                         "split", model);
  int status = 0;
  const auto options = parse_experiment_options(argc, argv, program, summary, grid, status);
  if (!options) return status;
  return report_errors(program, [&] {
    return run_experiments(program, *options, select_models(grid ? options->models : std::vector<std::string>{std::string(model)}));
  });
}

}  // namespace tpt::examples
