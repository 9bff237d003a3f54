# CTest script (cmake -P): tpt-grid's split comes from --split-seed, not from --seeds.
#  - seed 2's run is the same (split file and trained model, byte for byte) whether the grid
#    lists --seeds 2 or --seeds 1 2;
#  - the split file's header records the split seed, and another --split-seed draws another split;
#  - each run's settings.json records the split seed and, under "runtime", the thread count.
# Inputs: GRID (the tpt-grid binary), PYTHON (Debian's python3, with Pillow), WORK (a scratch folder).
cmake_minimum_required(VERSION 3.24)
foreach(var GRID PYTHON WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

# Three classes of 8 small PNGs each, told apart by their brightness.
execute_process(
  COMMAND "${PYTHON}" -c [[
import os, sys
from PIL import Image
root = sys.argv[1]
for c, level in (("eland", 40), ("gazelle", 128), ("zebra", 220)):
    os.makedirs(os.path.join(root, c))
    for i in range(8):
        Image.new("RGB", (16, 16), (level, (level + 17 * i) % 256, 255 - level)).save(os.path.join(root, c, f"{i}.png"))
]] "${WORK}/images"
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not make the images: ${err}")
endif()

function(grid out)
  execute_process(
    COMMAND "${GRID}" --dataset folder --folder "${WORK}/images" --models baseline --epochs1 1 --epochs2 0
            --patience 0 --image-size 16 --batch-size 8 --threads 1 --quiet --out "${WORK}/${out}" ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE text)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "tpt-grid ${ARGN} failed (${rc}):\n${text}")
  endif()
endfunction()

function(same a b what)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${WORK}/${a}" "${WORK}/${b}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what}: ${a} and ${b} differ")
  endif()
endfunction()

grid(alone --seeds 2)
grid(listed --seeds 1 2)
grid(other --seeds 2 --split-seed 7)

same(alone/split.csv listed/split.csv "the split depends on the other seeds listed")
same(alone/runs/baseline-cross_entropy-seed2/model.tpt listed/runs/baseline-cross_entropy-seed2/model.tpt
     "seed 2's model depends on the other seeds listed")
execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${WORK}/alone/split.csv" "${WORK}/other/split.csv"
                RESULT_VARIABLE differs)
if(differs EQUAL 0)
  message(FATAL_ERROR "--split-seed 7 drew the same split as --split-seed 0")
endif()

file(READ "${WORK}/alone/split.csv" header LIMIT 400)
file(READ "${WORK}/other/split.csv" other_header LIMIT 400)
if(NOT header MATCHES "# seed=0 group_by=none" OR NOT other_header MATCHES "# seed=7 group_by=none")
  message(FATAL_ERROR "the split files do not record their seed:\n${header}\n${other_header}")
endif()
file(READ "${WORK}/other/runs/baseline-cross_entropy-seed2/settings.json" settings)
string(JSON split_seed GET "${settings}" "split-seed")
string(JSON threads GET "${settings}" runtime 0 torch_threads)
string(JSON starts LENGTH "${settings}" runtime)
if(NOT split_seed EQUAL 7 OR NOT threads EQUAL 1 OR NOT starts EQUAL 1)
  message(FATAL_ERROR "settings.json lacks the split seed or the runtime record:\n${settings}")
endif()
message("split seed ok: one split for every seed list, recorded, and another for another --split-seed")
