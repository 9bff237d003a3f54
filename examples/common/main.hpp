// The entry point of the experiment programs, declared without LibTorch so their main() files
// compile in a second; the definition (examples/common/experiment_main.cpp) is compiled once.
#pragma once

#include <string_view>

namespace tpt::examples {

/// Parse the command line and run: `model` empty for the grid driver (tpt-grid, --models picks
/// the models), or one paper model's name for its own program (tpt-ros, ...). Returns the exit
/// status: 0 success, 1 failure or bad input file, 2 bad option.
int experiment_main(int argc, char** argv, std::string_view program, std::string_view model);

}  // namespace tpt::examples
