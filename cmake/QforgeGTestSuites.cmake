# qforge_gtest_suites(TARGET [PROPERTIES name value ...]): one CTest test per GoogleTest suite of
# TARGET, named TARGET.SUITE, running `TARGET --gtest_filter=SUITE.*`. A process per test
# (gtest_discover_tests) costs more than the tests: each LibTorch program spends about 0.8 s in
# LibTorch's static initialisers before its first test, and the runtime's table-driven suites ran
# 140 s as 1,100 processes against 23 s as 29 (CTest's own start-up of a process is most of it).
# The suites are listed after each build, as gtest_discover_tests lists tests
# (cmake/gtest_list_suites.cmake writes the CTest file). TARGET gets tests/support/gtest_main.cpp
# as its main(): a suite whose every test skipped itself exits 77, which CTest reports as skipped.
function(qforge_gtest_suites target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "PROPERTIES")
  target_link_libraries(${target} PRIVATE qforge_gtest_main)
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -D "EXE=$<TARGET_FILE:${target}>" -D "OUT=${ctest_file}" -D "PREFIX=${target}"
            -D "WORKDIR=${CMAKE_CURRENT_BINARY_DIR}" -D "PROPS=SKIP_RETURN_CODE;77;${arg_PROPERTIES}"
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
