# Runs the driver simulation built on one mutated copy of server/raft_driver.cc (or of
# storage/segment_roll.cc) and fails only if it does not notice the mutation. Prints what caught it.
#   -DSIM=<simulation binary> -DSEEDS=<how many>
execute_process(COMMAND ${SIM} --seeds ${SEEDS} --max-failures 1 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "the mutant survived: ${SEEDS} driver simulation seeds passed")
endif()
string(REGEX MATCH "FAIL[^\n]*" first "${out}")
string(REGEX MATCH "[0-9]+ seeds from [^\n]*" summary "${out}")
if(first STREQUAL "")
  # The driver stopped itself (an assertion) before a checker did.
  string(REGEX MATCH "[^\n]*(assert|Assert|ASSERT|abort)[^\n]*" first "${err}")
endif()
message("caught by the driver simulation: ${summary} (first: ${first}) [${rc}]")
