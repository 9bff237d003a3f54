# CTest script (cmake -P): run COMMAND (a ;-list), print what it wrote, then "exit status N".
# A test with PASS_REGULAR_EXPRESSION ignores the exit status, so the status goes into the output
# for the expression to match; EXPECT_STATUS also fails the script when it differs.
cmake_minimum_required(VERSION 3.24)
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}exit status ${rc}")
if(DEFINED EXPECT_STATUS AND NOT rc STREQUAL EXPECT_STATUS)
  message(FATAL_ERROR "expected exit status ${EXPECT_STATUS}, got ${rc}")
endif()
