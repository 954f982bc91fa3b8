# qforge_gtest_suites(TARGET [PROPERTIES name value ...]): one CTest test per GoogleTest suite of
# TARGET, named TARGET.SUITE, running `TARGET --gtest_filter=SUITE.*` -- for the LibTorch test
# programs. Each of their processes spends about 0.8 s in LibTorch's static initialisers before
# the first test, so gtest_discover_tests' one process per test cost the 2-core CI about a
# minute of wall time (243 tests in 73 suites). The suites are listed after each build, as
# gtest_discover_tests lists tests (cmake/gtest_list_suites.cmake writes the CTest file).
function(qforge_gtest_suites target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "PROPERTIES")
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -D "EXE=$<TARGET_FILE:${target}>" -D "OUT=${ctest_file}" -D "PREFIX=${target}"
            -D "WORKDIR=${CMAKE_CURRENT_BINARY_DIR}" -D "PROPS=${arg_PROPERTIES}"
            -P "${PROJECT_SOURCE_DIR}/cmake/gtest_list_suites.cmake"
    BYPRODUCTS ${ctest_file}
    VERBATIM)
  # CTest reads this at test time; before the first build there is nothing to include.
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites_include.cmake")
  file(WRITE ${include_file}
       "if(EXISTS \"${ctest_file}\")\n  include(\"${ctest_file}\")\nelse()\n"
       "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
