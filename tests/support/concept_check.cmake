# CTest script (cmake -P): a type that does not satisfy a tpt policy concept must fail to compile
# with exactly one error, and that error must name the concept (tpt::sampler unless CONCEPTS says
# otherwise). The "good" case compiled the same way must succeed, so a broken command line cannot
# pass for a rejected type.
# Inputs: CXX (compiler), SOURCE (the file of cases), CASES (optional; default: the cases of
# tests/sampling/sampler_concept_check.cpp), CONCEPTS (optional,
# one concept per case, in order), INCLUDES (;-list of include dirs), IMPLICIT (the compiler's own
# include dirs: passing those with -isystem breaks #include_next).
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
list(LENGTH bad_cases n)
if(DEFINED CONCEPTS)
  list(LENGTH CONCEPTS n_concepts)
  if(NOT n_concepts EQUAL n)
    message(FATAL_ERROR "CONCEPTS has ${n_concepts} entries for ${n} cases")
  endif()
endif()
set(index 0)
foreach(case IN LISTS bad_cases)
  set(concept "tpt::sampler")
  if(DEFINED CONCEPTS)
    list(GET CONCEPTS ${index} concept)
  endif()
  math(EXPR index "${index} + 1")
  compile(${case} rc text)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${case}: compiled, but it is not a ${concept}")
  endif()
  string(REGEX MATCHALL "error:" errors "${text}")
  list(LENGTH errors n_errors)
  string(FIND "${text}" "this type is not a ${concept}" named)
  if(named EQUAL -1)
    message(FATAL_ERROR "${case}: the compile error does not say the type is not a ${concept}:\n${text}")
  endif()
  if(NOT n_errors EQUAL 1)
    message(FATAL_ERROR "${case}: expected one error, got ${n_errors}:\n${text}")
  endif()
  string(REGEX MATCH "error: [^\n]*" first "${text}")
  message(STATUS "${case}: ${first}")
endforeach()
message("concept check ok: ${n} types rejected, each with one error naming its concept")
