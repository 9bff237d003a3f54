# Configure, build and run one consumer project; fail loudly at the first step that fails.
file(REMOVE_RECURSE "${BINARY_DIR}")
set(args -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_PREFIX_PATH=${PREFIX}"
    "-DTPT_SOURCE_DIR=${TPT_SOURCE_DIR}")
if(LAUNCHER)
  list(APPEND args "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
foreach(step configure build run)
  if(step STREQUAL configure)
    set(cmd ${CMAKE_COMMAND} ${args})
  elseif(step STREQUAL build)
    set(cmd ${CMAKE_COMMAND} --build "${BINARY_DIR}")
  else()
    set(cmd "${BINARY_DIR}/consumer")
  endif()
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer ${step} failed (${rc}): ${cmd}")
  endif()
endforeach()
