// One paper model as its own program (tpt-baseline, tpt-ros, tpt-rus, tpt-ros-rus-15k,
// tpt-ros-rus-5k): built once per model with TPT_PAPER_MODEL naming it. The model's trainer is
// instantiated in examples/paper/<model>.cpp.
#include "../common/main.hpp"

#ifndef TPT_PAPER_MODEL
#error "TPT_PAPER_MODEL must name the model (baseline, ros, rus, ros-rus-15k, ros-rus-5k)"
#endif

int main(int argc, char** argv) {
  return tpt::examples::experiment_main(argc, argv, "tpt-" TPT_PAPER_MODEL, TPT_PAPER_MODEL);
}
