// main() of the GoogleTest programs that CTest runs one suite per process (qforge_gtest_suites in
// cmake/QforgeGTestSuites.cmake). Exit code 77 (CTest's SKIP_RETURN_CODE there) when every test
// that ran skipped itself, so a suite of GPU tests on a machine without a GPU reads "Skipped" in
// CTest's summary rather than "Passed". A failure still exits non-zero, whatever else skipped.
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  const testing::UnitTest& run = *testing::UnitTest::GetInstance();
  if (rc == 0 && run.successful_test_count() == 0 && run.skipped_test_count() > 0) return 77;
  return rc;
}
