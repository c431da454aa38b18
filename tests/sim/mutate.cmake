# Writes a copy of SRC with FROM (one line's text, found exactly once) replaced by TO into DST, and
# fails otherwise, so a mutant never silently equals the original after the core changes.
file(READ "${SRC}" text)
string(FIND "${text}" "${FROM}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "mutation '${NAME}': the text to mutate is no longer in ${SRC}: ${FROM}")
endif()
string(FIND "${text}" "${FROM}" last REVERSE)
if(NOT at EQUAL last)
  message(FATAL_ERROR "mutation '${NAME}': the text to mutate occurs more than once in ${SRC}: ${FROM}")
endif()
string(REPLACE "${FROM}" "${TO}" text "${text}")
file(WRITE "${DST}" "${text}")
