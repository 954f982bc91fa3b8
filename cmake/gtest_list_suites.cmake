# Script half of qforge_gtest_suites (QforgeGTestSuites.cmake): lists EXE's GoogleTest suites and
# writes OUT, a CTest file with one test per suite. -D EXE, OUT, PREFIX, WORKDIR, PROPS.
execute_process(COMMAND "${EXE}" --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE rc TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${rc}):\n${listing}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
string(REPLACE ";" " " props "${PROPS}")  # name value pairs, as set_tests_properties takes them
set(script "")
foreach(line IN LISTS lines)
  # Suite lines start in column 0 and end in '.', perhaps followed by "  # TypeParam = ...".
  if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
    set(suite "${CMAKE_MATCH_1}")
    string(APPEND script "add_test([=[${PREFIX}.${suite}]=] [==[${EXE}]==] [=[--gtest_filter=${suite}.*]=])\n")
    string(APPEND script "set_tests_properties([=[${PREFIX}.${suite}]=] PROPERTIES WORKING_DIRECTORY [==[${WORKDIR}]==]")
    if(props)
      string(APPEND script " ${props}")
    endif()
    string(APPEND script ")\n")
  endif()
endforeach()
file(WRITE "${OUT}.tmp" "${script}")
file(RENAME "${OUT}.tmp" "${OUT}")
