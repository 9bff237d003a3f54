// tpt-grid: the paper's experiment grid. Any subset of the five models, several seeds and losses,
// on a dataset (long-tailed Fashion-MNIST by default); writes the paper-style report and figures.
#include "../common/main.hpp"

int main(int argc, char** argv) { return tpt::examples::experiment_main(argc, argv, "tpt-grid", ""); }
