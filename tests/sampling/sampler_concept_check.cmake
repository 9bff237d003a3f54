# CTest script (cmake -P): a type that is not a tpt::sampler must fail to compile with exactly
# one error, and that error must name tpt::sampler. A good sampler compiled the same way must
# succeed, so a broken command line cannot pass for a rejected sampler.
# Inputs: CXX (compiler), SOURCE (sampler_concept_check.cpp), CASES (optional), INCLUDES (;-list of include dirs),
# IMPLICIT (the compiler's own include dirs: passing those with -isystem breaks #include_next).
cmake_minimum_required(VERSION 3.24)
foreach(var CXX SOURCE INCLUDES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()

set(flags -std=c++20 -fsyntax-only -fdiagnostics-color=never)
set(implicit_real)
foreach(dir IN LISTS IMPLICIT)
  get_filename_component(real "${dir}" REALPATH)
  list(APPEND implicit_real "${real}")
endforeach()
set(seen)
foreach(dir IN LISTS INCLUDES)
  get_filename_component(real "${dir}" REALPATH)  # /usr/lib/../include is /usr/include
  if(dir AND NOT real IN_LIST implicit_real AND NOT real IN_LIST seen)
    list(APPEND seen "${real}")
    list(APPEND flags -isystem "${real}")
  endif()
endforeach()

function(compile case out_rc out_text)
  execute_process(
    COMMAND "${CXX}" ${flags} -DTPT_CASE_${case}=1 "${SOURCE}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_rc} "${rc}" PARENT_SCOPE)
  set(${out_text} "${out}${err}" PARENT_SCOPE)
endfunction()

compile(good rc text)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a valid sampler failed to compile, so the check proves nothing:\n${text}")
endif()

# CASES: the failing cases SOURCE defines (default: those of sampler_concept_check.cpp).
if(DEFINED CASES)
  set(bad_cases ${CASES})
else()
  set(bad_cases no_plan returns_indices_only plan_not_const takes_a_seed_not_a_generator
      bad_first_stage_of_compose bad_policy_in_every_epoch)
endif()
foreach(case IN LISTS bad_cases)
  compile(${case} rc text)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${case}: compiled, but it is not a tpt::sampler")
  endif()
  string(REGEX MATCHALL "error:" errors "${text}")
  list(LENGTH errors n_errors)
  if(NOT text MATCHES "tpt::sampler")
    message(FATAL_ERROR "${case}: the compile error does not name tpt::sampler:\n${text}")
  endif()
  if(NOT n_errors EQUAL 1)
    message(FATAL_ERROR "${case}: expected one error, got ${n_errors}:\n${text}")
  endif()
  string(REGEX MATCH "error: [^\n]*" first "${text}")
  message(STATUS "${case}: ${first}")
endforeach()
list(LENGTH bad_cases n)
message("concept check ok: ${n} non-samplers rejected, each with one error naming tpt::sampler")
